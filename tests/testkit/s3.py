"""An emulator of S3 for the tests: moto's server mode on 127.0.0.1 (`start_s3_emulator`, used by
the `s3_emulator` session fixture of tests/conftest.py). It is NOT an object store: no
S3-compatible server (MinIO, Ceph) installs here from Debian; moto answers the S3 API over HTTP
(signed requests, buckets, objects) as a store does, which is what DVC and MLflow speak."""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import Iterator
from contextlib import contextmanager


class S3Emulator:
    """Where the S3 emulator answers, and a key pair it accepts."""

    def __init__(self, endpoint: str, access_key: str, secret_key: str):
        self.endpoint, self.access_key, self.secret_key = endpoint, access_key, secret_key

    def bucket(self, name: str) -> str:
        """Create bucket `name` (as the emulator's admin) and return its s3:// URL."""
        import boto3
        from moto.core.authorization import disable_iam_authentication

        with disable_iam_authentication():
            boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1", aws_access_key_id="admin",
                         aws_secret_access_key="admin").create_bucket(Bucket=name)
        return f"s3://{name}"

    def keys(self, bucket: str) -> list[str]:
        import boto3

        client = boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1",
                              aws_access_key_id=self.access_key, aws_secret_access_key=self.secret_key)
        return [item["Key"] for item in client.list_objects_v2(Bucket=bucket).get("Contents", [])]


@contextmanager
def start_s3_emulator() -> Iterator[S3Emulator]:
    """moto's server on a free port of 127.0.0.1, in this process, with IAM authentication on,
    so a request signed with an unknown key is refused (403) as a real store refuses it; the key
    pair it accepts is made here (an IAM user allowed s3:*)."""
    import boto3
    from moto import settings
    from moto.core.authorization import ActionAuthenticatorMixin
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one log line per request otherwise
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    iam = boto3.client("iam", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="admin",
                       aws_secret_access_key="admin")
    iam.create_user(UserName="affectgpt-tests")
    iam.put_user_policy(UserName="affectgpt-tests", PolicyName="s3", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}))
    key = iam.create_access_key(UserName="affectgpt-tests")["AccessKey"]
    saved = settings.INITIAL_NO_AUTH_ACTION_COUNT, ActionAuthenticatorMixin.request_count
    settings.INITIAL_NO_AUTH_ACTION_COUNT, ActionAuthenticatorMixin.request_count = 0, 0
    try:
        yield S3Emulator(endpoint, key["AccessKeyId"], key["SecretAccessKey"])
    finally:
        settings.INITIAL_NO_AUTH_ACTION_COUNT, ActionAuthenticatorMixin.request_count = saved
        server.stop()
