#!/usr/bin/env bash
# The README's screenshots (docs/images/) from the project's last `kedro run`, in headless
# Chromium (Debian's chromium): the MLflow experiment and run pages, the registered model
# version, report.html, and kedro-viz's __default__ and joint_latent views.
#   kedro run && scripts/screenshots.sh [OUT_DIR]        # default docs/images
# Starts `mlflow ui` and `kedro viz run` on free ports of 127.0.0.1 and stops them (by PID).
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-docs/images}"
mkdir -p "$out"
browser="$(command -v chromium || command -v chromium-browser)"
profile="$(mktemp -d /tmp/cemap-screens.XXXXXX)"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    rm -rf "$profile"
}
trap cleanup EXIT

free_port() { python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_for() { # wait_for URL LOG
    for _ in $(seq 180); do curl -sf "$1" >/dev/null && return 0; sleep 1; done
    echo "no answer from $1; its log:" >&2
    tail -20 "$2" >&2
    exit 1
}
shot() { # shot FILE URL [WIDTH,HEIGHT]
    "$browser" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
        --disable-background-networking --disable-component-update --disable-sync \
        --user-data-dir="$profile" --hide-scrollbars --window-size="${3:-1600,1000}" \
        --virtual-time-budget=20000 --screenshot="$out/$1" "$2" 2>/dev/null
    echo "$out/$1 <- $2"
}

mlflow_port="$(free_port)"
mlflow ui --backend-store-uri sqlite:///mlflow.db --host 127.0.0.1 --port "$mlflow_port" \
    >"$profile/mlflow.log" 2>&1 &
pids+=($!)
viz_port="$(free_port)"
kedro viz run --host 127.0.0.1 --port "$viz_port" --no-browser >"$profile/viz.log" 2>&1 &
pids+=($!)
mlflow_url="http://127.0.0.1:$mlflow_port"
wait_for "$mlflow_url/health" "$profile/mlflow.log"

# The newest run of the default pipelines and the model version it registered.
read -r experiment run version < <(
    python - "$mlflow_url" <<'PY'
import sys

from mlflow import MlflowClient

client = MlflowClient(sys.argv[1])
experiment = client.get_experiment_by_name("cemap")
run = client.search_runs(
    [experiment.experiment_id],
    "tags.mlflow.runName LIKE '__default__%'",
    order_by=["attributes.start_time DESC"],
    max_results=1,
)[0]
version = client.get_model_version_by_alias("cemap-text-speech-to-image", "champion")
print(experiment.experiment_id, run.info.run_id, version.version)
PY
)
shot mlflow_experiment.png "$mlflow_url/#/experiments/$experiment?workflowType=machine_learning"
shot mlflow_run.png "$mlflow_url/#/experiments/$experiment/runs/$run?workflowType=machine_learning"
shot mlflow_model_version.png "$mlflow_url/#/models/cemap-text-speech-to-image/versions/$version"
shot report.png "file://$PWD/data/08_reporting/report.html" 1200,1400

viz_url="http://127.0.0.1:$viz_port"
wait_for "$viz_url" "$profile/viz.log"
shot viz_default.png "$viz_url/?pid=__default__"
shot viz_joint_latent.png "$viz_url/?pid=joint_latent"
