"""reports/published.py: Deep Forcing's long-video rows beside the SVI paper's tables."""

from reports import published
from scoring.specs import spec


def test_deep_forcing_rows_as_printed():
    table = published.long_video_rows()
    assert table is published.LONG_VIDEO
    rows = {r.label: r.values for r in table.rows}
    assert rows == {
        "LongLive": {"dynamic_degree": 43.49, "imaging_quality": 69.11, "subject_consistency": 97.85},
        "Rolling Forcing": {"dynamic_degree": 31.35, "imaging_quality": 70.25, "subject_consistency": 97.97},
        "Self Forcing": {"dynamic_degree": 31.98, "imaging_quality": 66.33, "subject_consistency": 96.82},
        "Deep Forcing (training-free)": {
            "dynamic_degree": 57.19,
            "imaging_quality": 69.27,
            "subject_consistency": 96.96,
        },
    }
    # percent, as reports show these dimensions (scale 100)
    assert all(spec(m).scale == 100.0 for values in rows.values() for m in values)


def test_deep_forcing_rows_are_labelled_published_on_their_own_models():
    table = published.long_video_rows()
    assert table.source == published.DEEP_FORCING_SOURCE and "arXiv:2512.05081" in table.source
    for words in ("Table 1", "VBench-Long", "MovieGen", "60 s", "own model"):
        assert words in table.where
    assert table.suites == ("*",)
    # the SVI paper's tables keep their own source
    assert {t.source for t in (published.CONSISTENT, published.CREATIVE, published.ABLATION)} == {
        published.SOURCE
    }
    assert published.DANCE.source == published.TALK.source == published.SOURCE
