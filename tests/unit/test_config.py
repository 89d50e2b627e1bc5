"""Config: overlays, env overrides, secrets only from env, errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from skewguard.config import ConfigError, load_settings, repo_root


def _conf(tmp_path: Path, base: str, overlay: str = "") -> Path:
    (tmp_path / "base.yaml").write_text(base)
    (tmp_path / "local.yaml").write_text(overlay)
    return tmp_path


def test_defaults_overlay_and_env_overrides(tmp_path: Path) -> None:
    conf = _conf(
        tmp_path, "elasticsearch:\n  index: logs\n  scroll_size: 500\n", "elasticsearch:\n  scroll_size: 900\n"
    )
    settings = load_settings("local", conf, env={"ELASTICSEARCH_URL": "https://es.example:9243/", "ES_PASSWORD": "pw"})
    es = settings.elasticsearch
    assert (es.url, es.index, es.scroll_size) == ("https://es.example:9243", "logs", 900)
    assert (es.host, es.port, es.use_tls) == ("es.example", 9243, True)
    assert es.password is not None and es.password.get_secret_value() == "pw"
    assert "pw" not in repr(settings) and "pw" not in settings.model_dump_json()
    assert settings.lakehouse.root == str(repo_root() / "lakehouse")
    s3 = load_settings("local", conf, env={"SKEWGUARD_LAKEHOUSE": "s3a://bucket/lake/"}).lakehouse
    assert s3.table_path("bronze.serving_logs") == "s3a://bucket/lake/bronze/serving_logs"
    assert load_settings("local", conf, env={"ES_COLLECTION_NAME": "other"}).elasticsearch.index == "other"


def test_the_project_conf_loads_for_every_profile() -> None:
    for profile in ("local", "cluster", "test"):
        settings = load_settings(profile, env={})
        assert settings.profile == profile and settings.elasticsearch.index == "flywheel"
    assert load_settings("cluster", env={}).spark.master is None


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"ELASTICSEARCH_URL": "localhost:9200"}, "elasticsearch.url (env ELASTICSEARCH_URL): Value error, must start"),
        ({"ES_COLLECTION_NAME": "Bad Name"}, "elasticsearch.index (env ES_COLLECTION_NAME): Value error, not a valid"),
        ({"ES_CA_CERTS": "/nonexistent/ca.crt"}, "elasticsearch.ca_certs (env ES_CA_CERTS): Value error, CA file"),
    ],
)
def test_bad_env_values_name_the_key(tmp_path: Path, env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=None) as err:
        load_settings("local", _conf(tmp_path, ""), env=env)
    assert str(err.value).startswith(message)


def test_bad_yaml_values_and_unknown_keys(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^elasticsearch\.scroll_size: Input should be less than or equal to 10000"):
        load_settings("local", _conf(tmp_path, "elasticsearch:\n  scroll_size: 50000\n"), env={})
    with pytest.raises(ConfigError, match=r"^spark\.mastr: Extra inputs are not permitted"):
        load_settings("local", _conf(tmp_path, "spark:\n  mastr: local\n"), env={})
    with pytest.raises(ConfigError, match=r"^profile: no overlay .*nope\.yaml \(known profiles: local\)"):
        load_settings("nope", _conf(tmp_path, ""), env={})


def test_secrets_in_yaml_are_refused_and_never_echoed(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^elasticsearch\.password: secrets are read from the environment only"):
        load_settings("local", _conf(tmp_path, "elasticsearch:\n  password: hunter22\n"), env={})
    with pytest.raises(ConfigError) as err:
        load_settings("local", _conf(tmp_path, ""), env={"ES_API_KEY": "k" * 5, "ELASTICSEARCH_URL": "ftp://x"})
    assert "kkkkk" not in str(err.value)


def test_the_pii_key_and_credentials_in_urls_are_refused_without_echo(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^serving\.pii_key: secrets are read from the environment only"):
        load_settings("local", _conf(tmp_path, "serving:\n  pii_key: s3cret-key\n"), env={})
    for url in ("https://elastic:hunter22@es.example:9243", "ftp://elastic:hunter22@es.example"):
        for conf, env in ((f"elasticsearch:\n  url: {url}\n", {}), ("", {"ELASTICSEARCH_URL": url})):
            with pytest.raises(ConfigError, match=r"^elasticsearch\.url\b") as err:
                load_settings("local", _conf(tmp_path, conf), env=env)
            assert "hunter22" not in str(err.value) and "elastic:" not in str(err.value)
    settings = load_settings("local", _conf(tmp_path, ""), env={"SKEWGUARD_PII_KEY": "from-env"})
    assert settings.serving.pii_key is not None and settings.serving.pii_key.get_secret_value() == "from-env"


def test_drift_thresholds_overrides_and_their_validation(tmp_path: Path) -> None:
    conf = "drift:\n  overrides:\n    f001: {psi: {warn: 0.3, alert: 0.5}}\n    w1/f002: {ks: {alert: 0.4}}\n"
    drift = load_settings("local", _conf(tmp_path, conf), env={}).drift
    assert (drift.thresholds_for("w1", "f001", "psi").warn, drift.thresholds_for("w1", "f001", "psi").alert) == (
        0.3,
        0.5,
    )
    assert drift.thresholds_for("w1", "f002", "ks").alert == 0.4
    assert drift.thresholds_for("w2", "f002", "ks").alert == 0.1  # the override is w1's only
    assert drift.thresholds_for("w1", "f003", "count_delta").warn is None  # informational
    with pytest.raises(ConfigError, match=r"unknown metric\(s\) \['pis'\]"):
        load_settings("local", _conf(tmp_path, "drift:\n  thresholds:\n    pis: {warn: 0.1}\n"), env={})
    with pytest.raises(ConfigError, match=r"warn \(0.3\) must not be above alert \(0.2\)"):
        load_settings("local", _conf(tmp_path, "drift:\n  thresholds:\n    psi: {warn: 0.3, alert: 0.2}\n"), env={})


def test_llm_limit_defaults_like_the_flywheel_and_is_not_below_min_records(tmp_path: Path) -> None:
    assert load_settings("local", _conf(tmp_path, ""), env={}).llm.limit == 1000
    assert load_settings("local", _conf(tmp_path, "llm:\n  limit: null\n"), env={}).llm.limit is None
    with pytest.raises(ConfigError, match=r"^llm: Value error, limit \(10\) must not be below min_records \(50\)"):
        load_settings("local", _conf(tmp_path, "llm:\n  limit: 10\n"), env={})


def test_the_llm_endpoint_key_comes_from_the_environment_only(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^llm_eval\.api_key: secrets are read from the environment only"):
        load_settings("local", _conf(tmp_path, "llm_eval:\n  api_key: sk-hunter22\n"), env={})
    env = {
        "SKEWGUARD_LLM_EVAL_URL": "http://127.0.0.1:8000/v1/",
        "SKEWGUARD_LLM_EVAL_MODEL": "my-lora",
        "SKEWGUARD_LLM_EVAL_API_KEY": "sk-from-env",
    }
    cfg = load_settings("local", _conf(tmp_path, "llm_eval:\n  concurrency: 4\n"), env=env).llm_eval
    assert (cfg.base_url, cfg.model, cfg.concurrency) == ("http://127.0.0.1:8000/v1", "my-lora", 4)
    assert cfg.api_key is not None and cfg.api_key.get_secret_value() == "sk-from-env" and "sk-from" not in repr(cfg)
    with pytest.raises(ConfigError, match=r"^llm_eval\.base_url \(env SKEWGUARD_LLM_EVAL_URL\): Value error, must not"):
        load_settings("local", _conf(tmp_path, ""), env={"SKEWGUARD_LLM_EVAL_URL": "http://u:hunter22@h/v1"})
    with pytest.raises(ConfigError, match=r"^llm_eval\.argument_mode: Input should be 'name_only', 'name_and_args'"):
        load_settings("local", _conf(tmp_path, "llm_eval:\n  argument_mode: fuzzy\n"), env={})


def test_each_component_gets_its_roles_credentials(tmp_path: Path) -> None:
    conf = _conf(tmp_path, "")
    env = {"ES_USERNAME": "shared", "ES_PASSWORD": "pw-shared", "ES_WRITER_USERNAME": "w", "ES_WRITER_PASSWORD": "pw-w"}
    settings = load_settings("local", conf, env=env)
    writer, reader = settings.es_for("writer"), settings.es_for("reader")
    assert writer.username.get_secret_value() == "w" and writer.password.get_secret_value() == "pw-w"  # type: ignore[union-attr]
    assert reader.username.get_secret_value() == "shared"  # type: ignore[union-attr]  # falls back
    assert writer.url == reader.url == settings.elasticsearch.url
    assert sorted(settings.secret_values()) == ["pw-shared", "pw-w"]
    assert "pw-w" not in repr(settings)
    keyed = load_settings("local", conf, env={**env, "ES_READER_API_KEY": "k=="}).es_for("reader")
    assert keyed.api_key.get_secret_value() == "k==" and keyed.username is None  # type: ignore[union-attr]

    required = load_settings("local", conf, env={**env, "SKEWGUARD_ES_ROLES_REQUIRED": "true"})
    assert required.es_for("writer").username.get_secret_value() == "w"  # type: ignore[union-attr]
    missing = r"^elasticsearch\.roles\.reader: no credentials for the reader role, which the Spark jobs .* set "
    with pytest.raises(ConfigError, match=missing + r"ES_READER_USERNAME and ES_READER_PASSWORD, or ES_READER_API_KEY"):
        required.es_for("reader")


def test_role_credentials_are_refused_in_yaml_and_need_a_user(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^elasticsearch\.roles\.writer\.password: secrets are read from the env"):
        load_settings(
            "local", _conf(tmp_path, "elasticsearch:\n  roles:\n    writer:\n      password: hunter22\n"), env={}
        )
    with pytest.raises(ConfigError, match=r"^elasticsearch\.roles\.reader: Value error, a password without a user"):
        load_settings("local", _conf(tmp_path, ""), env={"ES_READER_PASSWORD": "hunter22"})
