"""MLflow's S3 artifact store (what `mlflow server --artifacts-destination s3://...` serves the
registry's artifacts from) with the locked boto3/botocore, against an EMULATOR of S3 (moto's
server on 127.0.0.1, the `s3_emulator` fixture; no object store installs here): the versions
the DVC S3 remote needs must still carry MLflow's uploads and downloads."""

from __future__ import annotations

from pathlib import Path


def test_mlflow_writes_lists_and_reads_artifacts_in_an_s3_bucket(s3_emulator, monkeypatch, tmp_path):
    from mlflow.store.artifact.s3_artifact_repo import S3ArtifactRepository

    bucket = s3_emulator.bucket("mlflow-artifacts")
    monkeypatch.setenv("MLFLOW_S3_ENDPOINT_URL", s3_emulator.endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3_emulator.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3_emulator.secret_key)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    (tmp_path / "model.txt").write_text("weights")
    repository = S3ArtifactRepository(f"{bucket}/1/run/artifacts")
    repository.log_artifact(str(tmp_path / "model.txt"), "model")
    assert [entry.path for entry in repository.list_artifacts("model")] == ["model/model.txt"]
    assert s3_emulator.keys("mlflow-artifacts") == ["1/run/artifacts/model/model.txt"]
    (tmp_path / "back").mkdir()
    downloaded = repository.download_artifacts("model/model.txt", dst_path=str(tmp_path / "back"))
    assert Path(downloaded).read_text() == "weights"
