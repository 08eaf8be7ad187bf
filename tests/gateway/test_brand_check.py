"""``generate`` refuses an unusable ``wm_image`` at submission, with provenance's reason and no job.

In process, in front of the real prompt and provenance services (provenance owns the one
logo decoder, the one Finalize uses) and the scripted compliance and inference stand-ins,
so "no job created" is read straight off what inference received.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from gateway.main import Settings
from imgen.compliance.v1 import compliance_pb2, compliance_pb2_grpc
from imgen.inference.v1 import inference_pb2, inference_pb2_grpc
from imgen.provenance.v1 import provenance_pb2
from services.shared.server import ServiceRuntime, service_name
from tests.provenance.test_check_brand import HOSTILE_LOGOS, as_data_uri, small_png

from .conftest import InProcessGateway, _DoubleSettings, in_process_gateway, start_runtime
from .doubles import ScriptedCompliance, ScriptedInference

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def branded(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[InProcessGateway]:
    """A gateway whose provenance upstream is the real service."""
    from services.prompt.main import SERVICE_NAMES as PROMPT_NAMES
    from services.prompt.main import Settings as PromptSettings
    from services.prompt.main import build_runtime as build_prompt
    from services.provenance.main import SERVICE_NAMES as PROVENANCE_NAMES
    from services.provenance.main import Settings as ProvenanceSettings
    from services.provenance.main import build_runtime as build_provenance

    tmp_path = tmp_path_factory.mktemp("brand-check")
    common = {"port": 0, "data_dir": tmp_path, "log_format": "json", "shutdown_grace_s": 0.2}
    prompt_rt = build_prompt(PromptSettings(**common))
    provenance_rt = build_provenance(ProvenanceSettings(**common))
    doubles_rt = ServiceRuntime("doubles", _DoubleSettings(**common))
    compliance, inference = ScriptedCompliance(), ScriptedInference()
    compliance_pb2_grpc.add_ComplianceServiceServicer_to_server(compliance, doubles_rt.server)
    inference_pb2_grpc.add_InferenceServiceServicer_to_server(inference, doubles_rt.server)
    tasks = [
        await start_runtime(prompt_rt, PROMPT_NAMES),
        await start_runtime(provenance_rt, PROVENANCE_NAMES),
        await start_runtime(
            doubles_rt,
            [
                service_name(compliance_pb2, "ComplianceService"),
                service_name(inference_pb2, "InferenceService"),
            ],
        ),
    ]
    doubles_addr = f"127.0.0.1:{doubles_rt.bound_port}"
    settings = Settings(
        port=0,
        data_dir=tmp_path,
        log_format="json",
        prompt_addr=f"127.0.0.1:{prompt_rt.bound_port}",
        provenance_addr=f"127.0.0.1:{provenance_rt.bound_port}",
        storage_addr="127.0.0.1:1",
        compliance_addr=doubles_addr,
        inference_addr=doubles_addr,
        request_timeout_s=10,
    )
    async with in_process_gateway(settings, compliance, inference, tasks, "brand-check") as gateway:
        yield gateway


def generate(wm_image: str) -> dict[str, str]:
    return {"action": "generate", "prompt": "a calm lake", "wm_image": wm_image}


@pytest.mark.parametrize(("label", "uri", "fragment"), HOSTILE_LOGOS, ids=[c[0] for c in HOSTILE_LOGOS])
async def test_unusable_logo_is_400_with_the_reason_and_no_job(
    branded: InProcessGateway, label: str, uri: str, fragment: str
) -> None:
    submitted, reviewed = len(branded.inference.submitted), len(branded.compliance.reviews)
    response = await branded.call(generate(uri))
    assert response.status_code == 400, (label, response.text)
    body = response.json()
    assert set(body) == {"error"} and fragment in body["error"] and "wm_image" in body["error"], body
    assert len(branded.inference.submitted) == submitted, "a job was created"
    assert len(branded.compliance.reviews) == reviewed, "the prompt was reviewed for a refused request"


async def test_usable_logo_is_submitted_unchanged(branded: InProcessGateway) -> None:
    uri = as_data_uri("image/png", small_png())
    response = await branded.call(generate(uri))
    assert response.status_code == 200, response.text
    assert branded.inference.submitted[-1].spec.brand.image_data_uri == uri


async def test_no_logo_needs_no_provenance_answer(branded: InProcessGateway) -> None:
    response = await branded.call({"action": "generate", "prompt": "a calm lake"})
    assert response.status_code == 200, response.text
    assert branded.inference.submitted[-1].spec.brand == provenance_pb2.BrandWatermark(
        position="bottom-right", scale=5, transparency=100, padding_x=10, padding_y=10
    )


async def test_provenance_unreachable_is_502_and_no_job(gateway: InProcessGateway) -> None:
    """The shared fixture's provenance address is closed: a logo cannot be vouched for."""
    response = await gateway.call(generate(as_data_uri("image/png", small_png())))
    assert response.status_code == 502, response.text
    assert response.json() == {"error": "Generation failed"}
    assert gateway.inference.submitted == []
    # Without a logo provenance is not asked, so the same gateway still queues the job.
    response = await gateway.call({"action": "generate", "prompt": "a calm lake"})
    assert response.status_code == 200, response.text
