"""Helpers every test folder shares: small real servers (an OpenAI-compatible chat endpoint,
JSON replies of stand-in HTTP APIs), child server processes started and stopped as one
process group, one-thread torch for tiny models, a manifest's container run as the kubelet
runs it (`pods`), and the skip-or-fail for what a machine lacks (`required`).

Importable as `testkit` from any test: the root conftest's folder (`tests/`) is on sys.path
under pytest's default import mode. Folder-specific kits (`model_testkit`, `registry_testkit`,
`data_testkit`, the cluster `rehearsal`) build on these.
"""
