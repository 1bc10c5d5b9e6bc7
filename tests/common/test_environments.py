from __future__ import annotations

from pathlib import Path

import pytest

from raxx.common.environments import EnvironmentRegistry
from raxx.common.errors import ConfigError, UnknownEnvironment

THREE = """
default = "staging"
[environments.staging]
color = "#b45309"
raptor_url = "http://127.0.0.1:8101"
[environments.prod]
label = "PRODUCTION"
color = "#b91c1c"
raptor_url = "https://raptor-prod.example.com/"
protected = true
[environments.qa-eu]
color = "#1d4ed8"
raptor_url = "http://qa:8103"
"""


def test_a_third_environment_is_data_not_code(tmp_path: Path) -> None:
    path = tmp_path / "envs.toml"
    path.write_text(THREE)
    registry = EnvironmentRegistry.from_toml(path)
    assert list(registry) == ["staging", "prod", "qa-eu"]
    assert registry.default == "staging"
    assert registry["qa-eu"].token_secret == "RAPTOR_TOKEN_QA_EU"
    assert registry["prod"].raptor_url == "https://raptor-prod.example.com"
    assert registry["prod"].needs_confirmation("trading.halt")
    assert not registry["staging"].needs_confirmation("trading.halt")
    assert "nowhere" not in registry
    assert registry.get("nowhere") is None
    with pytest.raises(UnknownEnvironment):
        registry["nowhere"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[environments.Prod]\nraptor_url='http://x'", "name must match"),
        ("[environments.prod]\ncolor='red'\nraptor_url='http://x'", "color must look like"),
        ("[environments.prod]\nraptor_url='ftp://x'", "raptor_url must be an http"),
        ("[environments.prod]\nraptor_url='https://user:pw@x'", "no credentials, query or fragment"),
        ("[environments.prod]\nraptor_url='https://x/?token=1'", "no credentials, query or fragment"),
        ("[environments.prod]\nraptor_url='https://x:port'", "raptor_url must be an http"),
        ("[environments.prod]\nraptor_url='https:///v1'", "a host"),
        ("[environments.prod]\nraptor_url='http://x'\ncolour='#ffffff'", "unknown keys"),
        ("default='qa'\n[environments.prod]\nraptor_url='http://x'", "default environment 'qa'"),
        ("environments = 1", "expected an [environments.NAME] table"),
        ("not toml at all [", "not valid TOML"),
    ],
)
def test_a_bad_registry_is_refused_with_a_reason(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "envs.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message.replace("[", r"\[")):
        EnvironmentRegistry.from_toml(path)


def test_banner_text_color_keeps_contrast() -> None:
    registry = EnvironmentRegistry.from_mapping(
        {
            "environments": {
                "dark": {"color": "#1f2937", "raptor_url": "http://a"},
                "light": {"color": "#fde68a", "raptor_url": "http://b"},
            }
        }
    )
    assert registry["dark"].text_color == "#ffffff"
    assert registry["light"].text_color == "#000000"
