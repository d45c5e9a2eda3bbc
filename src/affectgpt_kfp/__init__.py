"""The Kubeflow side of affectgpt: `affectgpt_kfp.components` (one thin kfp v2 component per
step, each calling one `affectgpt` library function) and `affectgpt_kfp.pipelines` (the
pipelines built from them, their compiled IR, the kfp.local runner and the kfp.Client side).

Imports flow one way: `affectgpt` (the library, which never imports kfp) <- components <-
pipelines <- the CLIs' pipeline commands."""
