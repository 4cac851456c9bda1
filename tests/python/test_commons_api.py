"""`/commons/v1`: the catalog with provenance state, as `commons show --json` prints it."""

from __future__ import annotations

import json
import os
import subprocess

import requests

from conftest import commons_bin


def test_models_list_reports_license_completeness_and_openness(server):
    body = requests.get(f"{server.url}/commons/v1/models", timeout=10).json()
    row = next(m for m in body["models"] if f"{m['name']}:{m['tag']}" == server.model)
    assert row["license"] == "apache-2.0"
    assert row["architecture"] == "llama"
    assert 0 < row["provenance"]["completeness"] < 1
    assert "evaluation" in row["provenance"]["missing"]
    assert row["provenance"]["openness_class"] == "class III"
    assert row["signatures"] == 0


def test_model_details_match_the_cli_and_list_referrers(server):
    details = requests.get(f"{server.url}/commons/v1/models/{server.model}", timeout=10).json()
    cli = json.loads(
        subprocess.run(
            [str(commons_bin()), "--json", "show", server.model],
            env=dict(os.environ, COMMONS_HOME=str(server.home)),
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    assert details == cli
    # The provenance record made at import is attached as a referrer.
    kinds = [r["artifact_type"] for r in details["referrers"]]
    assert "application/vnd.commons.provenance.v1+json" in kinds


def test_an_unknown_model_is_a_404_with_an_error(server):
    response = requests.get(f"{server.url}/commons/v1/models/nothing:here", timeout=10)
    assert response.status_code == 404
    assert "not found" in response.json()["error"]
