"""Our Python API against Matterport's, name by name (tools/matterport_api.py, with the table of
Matterport's public names in ../shared/testdata/matterport/api_signatures.tsv): every name is the
same, extended with trailing keyword arguments, Keras-only with an error that says what to use, or
different for a documented reason; docs/matterport_api.md is that comparison, kept current."""
import os
import sys

from conftest import shared_path

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tools"))
import matterport_api  # noqa: E402


def test_every_matterport_name_conforms():
    rows = matterport_api.conformance(shared_path("testdata", "matterport", "api_signatures.tsv"))
    assert len(rows) > 150
    assert matterport_api.problems(rows) == []
    same = sum(r[4] == "same" for r in rows)
    assert same >= 100, same


def test_the_conformance_document_is_current():
    rows = matterport_api.conformance(shared_path("testdata", "matterport", "api_signatures.tsv"))
    with open(os.path.join(ROOT, "docs", "matterport_api.md")) as f:
        assert f.read() == matterport_api.markdown(rows), \
            "regenerate it: python tools/matterport_api.py --write docs/matterport_api.md"


def test_keras_only_names_say_what_to_use_instead():
    import pytest

    from mrcnn import model as modellib
    from mrcnn import utils

    with pytest.raises(AttributeError, match="multiscale_roi_align"):
        modellib.PyramidROIAlign
    with pytest.raises(AttributeError, match="box_refinement"):
        utils.box_refinement_graph
    with pytest.raises(AttributeError, match="has no attribute 'nonexistent'"):
        modellib.nonexistent
