"""The usual Flask-on-Lambda setup, as the benchmark's peer (not part of the project).

The article's app (/work/shared/seed/, "How to return the status code in Flask"), served
by serverless_wsgi.handle_request, with a boto3 client made at import and used by the
view to store the posted details: one PutItem, the same write the project makes.
"""

import os

import boto3
import serverless_wsgi
from flask import Flask, request

app = Flask(__name__)
dynamodb = boto3.client("dynamodb")


@app.route("/userDetails", methods=["GET", "POST"])
def user_details():
    if request.method == "POST":
        username = request.form.get("username")
        firstname = request.form.get("firstname")
        lastname = request.form["lastname"]
        dynamodb.put_item(
            TableName=os.environ["USERS_TABLE"],
            Item={
                "pk": {"S": f"USER#{username}"},
                "sk": {"S": "DETAILS"},
                "firstname": {"S": firstname},
                "lastname": {"S": lastname},
            },
        )
        return "Success", 201


@app.route("/userSignUp", methods=["POST"])
def sign_up():
    if request.method == "POST":
        username = request.form.get("username")  # noqa: F841 - as in the article
        password = request.form.get("password")  # noqa: F841
        return "Success", 200, {"Access-Control-Allow-Origin": "*"}


def handler(event, context):
    return serverless_wsgi.handle_request(app, event, context)
