"""The mesh with the S3 backend: images delivered from a real S3 server through SigV4 URLs."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from imgen.client import ImgenClient, PollPolicy
from imgen.mesh import MeshConfig, running_mesh
from tests.storage.seaweed import SeaweedServer, seaweed  # noqa: F401 - the fixture

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def s3_mesh(seaweed: SeaweedServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:  # noqa: F811
    bucket = seaweed.create_bucket("imgen-e2e")
    env = {
        "IMGEN_STORAGE_BACKEND": "s3",
        "IMGEN_STORAGE_S3_BUCKET": bucket,
        "IMGEN_STORAGE_S3_ENDPOINT_URL": seaweed.endpoint_url,
        "IMGEN_STORAGE_S3_ADDRESSING_STYLE": "path",
        "IMGEN_STORAGE_S3_ACCESS_KEY_ID": seaweed.access_key,
        "IMGEN_STORAGE_S3_SECRET_ACCESS_KEY": seaweed.secret_key,
    }
    data_dir: Path = tmp_path_factory.mktemp("s3mesh")
    with running_mesh(MeshConfig.ephemeral(data_dir, env=env), timeout=240) as mesh:
        yield mesh


def test_generate_delivers_from_s3(s3_mesh: Any, seaweed: SeaweedServer) -> None:  # noqa: F811
    with ImgenClient(s3_mesh.api_url, s3_mesh.api_key) as client:
        job = client.submit("a quiet harbour at dawn", format="png", width=1024, height=1024)
        meta = client.wait(job, PollPolicy(interval_s=0.25, max_polls=400))

    signed = next(i for i in meta["images"] if i["type"] == "signed")
    assert signed["url"].startswith(seaweed.endpoint_url)
    assert "X-Amz-Signature=" in signed["url"]
    image = Image.open(io.BytesIO(httpx.get(signed["url"], timeout=30).content))
    assert image.format == "PNG" and image.size == (1024, 1024)

    # The object sits under the documented key layout in the bucket.
    listing = seaweed.client().list_objects_v2(Bucket="imgen-e2e")
    keys = [item["Key"] for item in listing.get("Contents", [])]
    assert any(key.endswith(signed["filename"]) and f"/{meta['gen_id']}/" in key for key in keys)

    tampered = signed["url"].replace("X-Amz-Signature=", "X-Amz-Signature=0")
    assert httpx.get(tampered, timeout=30).status_code == 403
