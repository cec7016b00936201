"""`istr segment` under torchrun (2 CPU processes, gloo): the same COCO file as one process writes,
and resume across world sizes. Faults (a killed, failing or hung rank; the lock) are in
tests/robustness/test_segment_distributed_faults.py."""

import json

import pytest

from istr_core.predict.journals import all_journals, journal_path, rank_journal_path
from istr_core.predict.output_lock import lock_path
from tests.cli.conftest import load_json
from tests.cli.torchrun import segment_args, torchrun, uneven_with_reference


@pytest.fixture(scope="module")
def uneven(tmp_path_factory, tiny_checkpoint):
    """(folder, the single-process output for it)."""
    return uneven_with_reference(tmp_path_factory.mktemp("uneven"), tiny_checkpoint)


def records_of(coco: dict) -> list[dict]:
    """The journal records a run would have written for the images of ``coco``."""
    return [
        {
            "file_name": im["file_name"],
            "width": im["width"],
            "height": im["height"],
            "annotations": [
                {k: v for k, v in a.items() if k not in ("id", "image_id")}
                for a in coco["annotations"]
                if a["image_id"] == im["id"]
            ],
        }
        for im in coco["images"]
    ]


def test_torchrun_two_processes_write_the_single_process_file(uneven, tiny_checkpoint, tmp_path):
    folder, reference = uneven
    out = out_beside(folder, tmp_path)
    proc = torchrun(segment_args(folder, out, tiny_checkpoint))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "segmenting on 2 processes: 10 images to do, split by pixel count (5, 5 per rank)" in proc.stderr
    assert out.read_bytes() == reference.read_bytes()  # same images, ids, annotations, order
    assert len(load_json(out)["annotations"]) > 0
    assert proc.stderr.count("broken.jpg") == 1, proc.stderr  # warned once, by the rank that had it
    summary = [line for line in proc.stderr.splitlines() if line.startswith("wrote ")]
    assert summary == [f"wrote {out}: 9 images, {len(load_json(out)['annotations'])} instances, 1 skipped"]
    assert not all_journals(out) and not lock_path(out).exists()


def test_resume_reads_the_journals_of_any_world_size(run, uneven, tiny_checkpoint, tmp_path):
    """A run killed with 4 processes left the journals of ranks 0 and 3 (one torn); one process resumes."""
    folder, reference = uneven
    records = records_of(load_json(reference))
    out = out_beside(folder, tmp_path)
    rank_journal_path(out, 0).write_text("".join(json.dumps(r) + "\n" for r in records[:2]))
    rank_journal_path(out, 3).write_text(
        "".join(json.dumps(r) + "\n" for r in records[5:7]) + '{"file_name": "img_'
    )
    result = run(*segment_args(folder, out, tiny_checkpoint, "--resume"))
    assert result.exit_code == 0 and "4 from the interrupted run" in result.stderr, result.output
    assert out.read_bytes() == reference.read_bytes()
    assert not all_journals(out)


def test_a_fresh_run_ignores_journals_of_earlier_runs(run, uneven, tiny_checkpoint, tmp_path):
    folder, reference = uneven
    out = out_beside(folder, tmp_path)
    bogus = {"file_name": "img_0.png", "width": 1, "height": 1, "annotations": []}
    for journal in (journal_path(out), rank_journal_path(out, 1), rank_journal_path(out, 12)):
        journal.write_text(json.dumps(bogus) + "\n")
    assert run(*segment_args(folder, out, tiny_checkpoint)).exit_code == 0
    assert out.read_bytes() == reference.read_bytes()
    assert not all_journals(out)


def out_beside(folder, tmp_path):
    """An output at the reference's place relative to the images, so the two files (which record the
    image folder relative to themselves) can be equal byte for byte."""
    out = folder.parent / tmp_path.name / "anns.json"
    out.parent.mkdir(exist_ok=True)
    return out
