"""moto's server with tests/moto_cloudformation.py's additions (the AWS::Lambda::Alias resource
and a version's Version attribute, which osls's SnapStart template needs):
``python -m tests.moto_server -H 127.0.0.1 -p PORT``."""

from __future__ import annotations

import sys

from moto.server import main

import tests.moto_cloudformation  # noqa: F401  (registers the CloudFormation additions)

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
