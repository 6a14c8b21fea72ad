"""``--engine ray`` gives the local engine's output byte for byte (local 2-CPU Ray, fake engine)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from batch import ReclassifyOptions, reclassify
from tests.batch.conftest import make_rows, write_rows
from tests.batch.fake_engine import make_engine

ray = pytest.importorskip("ray", reason="Ray is an optional extra: pip install -e '.[ray]' (ray[data]==2.60.0)")
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def local_ray() -> Iterator[Any]:
    # Workers inherit this environment: they must import the test's engine builder.
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), old) if p)
    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
    try:
        yield ray
    finally:
        ray.shutdown()
        if old is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = old


@pytest.mark.slow
def test_ray_engine_equals_the_local_engine_row_for_row(
    tmp_path: Path, options: ReclassifyOptions, local_ray: Any
) -> None:
    rows = make_rows(150)
    rows[17]["text"] = ""
    rows[90]["text"] = "y" * 5001
    src = write_rows(rows, tmp_path / "in.parquet")
    opts = replace(options, chunk_size=20, batch_size=8)
    local = reclassify(src, tmp_path / "local.parquet", opts, engine_builder=make_engine)
    ray_opts = replace(opts, engine="ray", ray_concurrency=2)
    remote = reclassify(src, tmp_path / "ray.parquet", ray_opts, engine_builder=make_engine)

    assert remote.engine == "ray" and (remote.rows, remote.scored, remote.rejected) == (150, 148, 2)
    assert remote.heads == local.heads
    assert (tmp_path / "ray.parquet").read_bytes() == (tmp_path / "local.parquet").read_bytes()
    rejects = "parquet.rejects.jsonl"
    assert (tmp_path / f"ray.{rejects}").read_bytes() == (tmp_path / f"local.{rejects}").read_bytes()


def test_an_actor_pool_that_would_take_every_cpu_is_refused(tmp_path: Path, options: ReclassifyOptions,
                                                            local_ray: Any) -> None:
    from triage.errors import ConfigError

    src = write_rows(make_rows(5), tmp_path / "in.jsonl")
    with pytest.raises(ConfigError, match="starve"):
        greedy = replace(options, engine="ray", ray_concurrency=2, ray_num_cpus=1.0)
        reclassify(src, tmp_path / "o.jsonl", greedy, engine_builder=make_engine)
