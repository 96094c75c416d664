"""CPU cost of a password sign-up: argon2id at OWASP's minimum vs werkzeug's scrypt default.

Measured side by side in one run, interleaved, as process CPU time (what Lambda bills at a
fixed memory size is wall time, but hashing is CPU-bound and single-threaded here).

    .venv/bin/python bench/password_cost.py
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
ROUNDS = 15


def cpu_ms(action: Callable[[], object]) -> float:
    started = time.process_time()
    action()
    return (time.process_time() - started) * 1000


def measure() -> dict[str, float]:
    """Medians in CPU milliseconds, and the ratios the goals are stated in."""
    from werkzeug.security import generate_password_hash

    from app import create_app
    from app.passwords import hash_password

    password = "correct-horse-battery-staple"
    hash_password(password)  # import argon2 and build the hasher outside the timings
    workdir = tempfile.mkdtemp(prefix="password-bench-")
    client = create_app({"USERS_DB": os.path.join(workdir, "users.sqlite3")}).test_client()
    client.post("/userSignUp", data="username=taken&password=" + password, headers=FORM)

    samples: dict[str, list[float]] = {
        "werkzeug_scrypt_hash": [],
        "argon2id_hash": [],
        "sign_up_200": [],
        "sign_up_409": [],
    }
    for round_number in range(ROUNDS):
        samples["werkzeug_scrypt_hash"].append(cpu_ms(lambda: generate_password_hash(password)))
        samples["argon2id_hash"].append(cpu_ms(lambda: hash_password(password)))
        form = f"username=user{round_number}&password={password}"
        samples["sign_up_200"].append(
            cpu_ms(lambda form=form: client.post("/userSignUp", data=form, headers=FORM))
        )
        samples["sign_up_409"].append(
            cpu_ms(
                lambda: client.post(
                    "/userSignUp", data="username=TAKEN&password=" + password, headers=FORM
                )
            )
        )
    medians = {name: statistics.median(values) for name, values in samples.items()}
    medians["argon2id_vs_scrypt"] = medians["argon2id_hash"] / medians["werkzeug_scrypt_hash"]
    medians["sign_up_409_vs_200"] = medians["sign_up_409"] / medians["sign_up_200"]
    return medians


def main() -> None:
    results = measure()
    print(f"password hashing, CPU ms, medians of {ROUNDS} interleaved rounds")
    for name, value in results.items():
        print(f"  {name:24} {value:9.3f}")


if __name__ == "__main__":
    main()
