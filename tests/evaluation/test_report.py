"""The report shows every metric it is given, in markdown and standalone HTML."""

from __future__ import annotations

from cemap.evaluation.report import (
    headline_markdown,
    headline_table,
    render_report,
    summary_metrics,
)

METRICS = {
    "coherence/text_to_image/test/strict": 0.99,
    "coherence/text_to_image/test/digit_left": 0.97,
    "coherence/text_to_image/heldout_tuples/strict": 0.71,
    "coherence/text_to_image/heldout_tuples/digit_left": 0.9,
    "coherence/text_to_image/heldout_pairs/strict": 0.62,
    "coherence/speech_to_image/heldout_pairs/strict": 0.4,
    "coherence/image_to_text/test/color_right": 0.99,
    "coherence/speech_to_image/test/strict": 0.86,
    "coherence/speech_to_image/unseen_voices/strict": 0.72,
    "coherence/speech_to_text/unseen_voices/strict": 0.9,
    "retrieval/text_to_image/test/recall@1": 0.4,
    "retrieval/text_to_image/test/recall@10": 0.8,
    "alignment/w2/image_text/test": 0.12,
    "frechet/text_to_image/test": 3.5,
    "diversity/text_to_image/test": 1.25,
    "joint/epochs": 40.0,
}
JUDGES = {
    "image/test": {
        "strict": 0.96,
        "digit_left": 0.985,
        "color_left": 1.0,
        "digit_right": 0.975,
        "color_right": 1.0,
    },
    "speech/test": {"strict": 0.8, "digit_left": 0.9},
}
FIGURES = {
    "text → image samples": "figures/prompt grid.png",
    "loss curves": "figures/loss_curves.png",
}


def test_report_contains_every_metric_name_in_both_formats():
    markdown, html = render_report(METRICS, JUDGES, FIGURES)
    for text in (markdown, html):
        for name in METRICS:
            assert name in text
        for judge, scores in JUDGES.items():
            for measure in scores:
                assert f"judge/{judge}/{measure}" in text
        assert "figures/loss_curves.png" in text


def test_report_tables_and_quality_bars():
    markdown, html = render_report(METRICS, JUDGES, FIGURES)
    assert "| text_to_image/test | 99.0% | 97.0% |" in markdown
    assert "| text_to_image/test | 40.0% | 80.0% |" in markdown  # recall@1, recall@10
    assert "| coherence/text_to_image/heldout_tuples/strict | 71.0% | ≥ 95% | MISSED |" in markdown
    assert "| coherence/text_to_image/heldout_pairs/strict | 62.0% | ≥ 60% | met |" in markdown
    assert "| coherence/speech_to_image/heldout_pairs/strict | 40.0% | ≥ 50% | MISSED |" in markdown
    assert "| judge/image/test/digit_right | 97.5% | ≥ 98% | MISSED |" in markdown
    assert "| coherence/speech_to_image/unseen_voices/strict | 72.0% | ≥ 85% | MISSED |" in markdown
    assert "| coherence/speech_to_text/unseen_voices/strict | 90.0% | ≥ 85% | met |" in markdown
    assert "| coherence/text_to_image/test/strict | 99.0% | ≥ 98.5% | met |" in markdown
    assert "## Other metrics" in markdown and "joint/epochs" in markdown
    assert html.startswith("<!DOCTYPE html>") and html.rstrip().endswith("</html>")
    assert '<img src="figures/prompt grid.png" alt="text → image samples">' in html


def test_report_leads_with_strict_coherence_per_direction_and_split():
    markdown, html = render_report(METRICS, JUDGES, FIGURES)
    assert markdown.index("## Strict coherence by split") < markdown.index("## Judge accuracy")
    assert "| direction | test | heldout_tuples | heldout_pairs |" in markdown
    assert "| text_to_image | 99.0% | 71.0% | 62.0% |" in markdown
    assert "| speech_to_image | 86.0% | – | 40.0% |" in markdown
    # Directions in the order of cemap.evaluation.metrics.DIRECTIONS.
    assert markdown.index("| text_to_image | 99") < markdown.index("| speech_to_image | 86")
    assert "<th>heldout_pairs</th>" in html


def test_report_accepts_flat_judge_names_and_no_figures():
    markdown, html = render_report({}, {"judge/image/test/strict": 0.5}, {})
    assert "judge/image/test/strict" in markdown and "Figures" not in markdown
    assert "<table>" in html


def test_report_opens_with_header_and_headline_and_embeds_figures():
    png = b"\x89PNG\r\n\x1a\n fake"
    header = {"run id": "abc123", "environment": "smoke", "configuration": "objective mvae"}
    markdown, html = render_report(
        METRICS, JUDGES, {"loss curves": ("figures/loss_curves.png", png)}, header=header
    )
    assert markdown.index("| run id | abc123 |") < markdown.index("## Strict coherence by split")
    assert "![loss curves](figures/loss_curves.png)" in markdown
    assert 'src="data:image/png;base64,iVBORw' in html and 'src="figures/' not in html
    # the caption comes before its figure, so it cannot read as the next figure's title
    assert html.index("<figcaption>loss curves") < html.index("<img")
    assert '<table class="headline">' in html and "abc123" in html


def test_headline_and_summary_follow_the_splits_they_are_given():
    metrics = {
        "coherence/text_to_image/test/strict": 0.9,
        "coherence/text_to_image/heldout_pairs/strict": 0.8,
        "coherence/image_to_text/test/strict": 0.3,
        "judge/image/test/strict": 0.97,
        "retrieval/text_to_image/test/recall_at_1": 0.5,
        "alignment/symmetric_kl/mean/test": 12.0,
        "embeddings/image/probe/mean": 0.93,
    }
    header, rows = headline_table(metrics)
    assert header == ["direction", "test", "heldout_pairs"]
    assert rows[0] == ["text_to_image", "90.0%", "80.0%"]
    assert summary_metrics(metrics) == {
        "coherence_text_to_image_test": 0.9,
        "coherence_image_to_text_test": 0.3,
        "coherence_text_to_image_heldout_pairs": 0.8,
        "judge_image_test": 0.97,
        "alignment_symmetric_kl_mean_test": 12.0,
        "recall_at_1_text_to_image_test": 0.5,
        "probe_image_embedding": 0.93,
    }
    assert "Judge accuracy (strict, real test data): image 97.0%" in headline_markdown(metrics)
    assert headline_markdown({"judge/image/test/strict": 1.0}) == ""
