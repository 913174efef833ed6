"""Each real format read from a fixture in its official layout, and the DataErrors that name file, row and field."""
import gzip
import json
from pathlib import Path

import pytest

from harness.data import formats
from harness.errors import ConfigError, DataError

FIXTURES = str(Path(__file__).resolve().parents[1] / "fixtures")
JB_FILE = f"{FIXTURES}/judgebench/data/dataset=judgebench,response_model=gpt-4o-2024-05-13.jsonl"


def load(spec: str) -> formats.Loaded:
    (parsed,) = formats.parse_specs(spec)
    return formats.load(parsed)


def test_rewardbench_rows_keep_subset_and_id():
    rows = load(f"rewardbench:{FIXTURES}/rewardbench/filtered.jsonl").rows
    assert [r["subset"] for r in rows] == ["alpacaeval-easy", "alpacaeval-easy", "mt-bench-hard",
                                           "refusals-dangerous", "math-prm", "hep-python"]
    assert rows[0] == {"id": 0, "subset": "alpacaeval-easy", "prompt": "Name a colour.",
                       "chosen": "Blue is a colour.", "rejected": "No."}


def test_rmbench_merges_safety_domains():
    rows = load(f"rmbench:{FIXTURES}/rmbench/total_dataset.json").rows
    assert [(r["domain"], r["subdomain"]) for r in rows] == [
        ("chat", "chat"), ("safety", "safety-refuse"), ("safety", "safety-response")]
    assert rows[0]["chosen"][0] == "Paris." and len(rows[0]["rejected"]) == 3


def test_hhh_pairs_each_good_choice_with_each_bad_one_and_takes_the_subset_from_the_file():
    rows = load(f"hhh:{FIXTURES}/hhh").rows
    assert [(r["subset"], r["chosen"][:5], r["rejected"][:5]) for r in rows] == [
        ("harmless", "I won", "Sure,"), ("harmless", "Why d", "No."), ("harmless", "Why d", "Jokes")]


def test_mtbench_excludes_and_counts_ties_and_keeps_each_side_history():
    loaded = load(f"mtbench:{FIXTURES}/mtbench/human.jsonl")
    assert loaded.excluded == {"ties_excluded": 2} and len(loaded.rows) == 2
    turn1, turn2 = loaded.rows
    assert turn1["prompt"] == [{"role": "user", "content": "Write a haiku."}]
    assert (turn1["chosen"], turn1["rejected"]) == ("Autumn leaves drifting down.", "Leaves.")  # model_b won
    assert turn2["chosen"] == "There once was a cat." and turn2["prompt"][1]["content"] == "Leaves."
    assert turn2["prompt_rejected"][1]["content"] == "Autumn leaves drifting down."


def test_unified_feedback_orders_by_rating_and_drops_equal_ratings():
    loaded = load(f"unified_feedback:{FIXTURES}/unified_feedback/val.jsonl")
    assert loaded.excluded == {"ties_excluded": 1}
    assert [(r["chosen"], r["rejected"]) for r in loaded.rows] == [("4", "It is five."),
                                                                  ("The capital of Italy is Rome.", "Milan")]
    assert len(load(f"unified_feedback:{FIXTURES}/unified_feedback/val.jsonl:every=2").rows) == 1  # rows 0 and 2


def test_skywork_and_hh_rlhf_split_the_last_assistant_turn_off_the_prompt():
    sky = load(f"skywork:{FIXTURES}/skywork/train.jsonl").rows
    assert sky[0] == {"id": 1, "prompt": [{"role": "user", "content": "Name a prime."}], "chosen": "7 is prime.",
                      "rejected": "9"}
    hh = load(f"hh_rlhf:{FIXTURES}/hh_rlhf/test.jsonl").rows
    assert hh[0]["prompt"] == [{"role": "user", "content": "What is 3 times 3?"},
                               {"role": "assistant", "content": "Nine."},
                               {"role": "user", "content": "And times 4?"}]
    assert (hh[0]["chosen"], hh[0]["rejected"]) == ("Three times four is twelve.", "13")


def test_generic_csv_with_a_column_mapping():
    rows = load(f"generic:{FIXTURES}/generic/pairs.csv:prompt=q,chosen=a,rejected=b").rows
    assert rows[0] == {"id": 2, "prompt": "What is 1+1?", "chosen": "Two", "rejected": "Three is the answer"}
    assert len(rows) == 3


def test_generic_parquet_and_json(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"prompt": ["p"], "chosen": ["a"], "rejected": ["b"]}), tmp_path / "x.parquet")
    assert load(f"generic:{tmp_path / 'x.parquet'}").rows == [{"id": 1, "prompt": "p", "chosen": "a",
                                                                "rejected": "b"}]


def test_parse_specs_comma_separated_with_options():
    specs = formats.parse_specs("rewardbench:/d/rb.jsonl,generic:/d/x.csv:prompt=q,chosen=a,rejected=b")
    assert specs == [formats.DataSpec("rewardbench", "/d/rb.jsonl"),
                     formats.DataSpec("generic", "/d/x.csv", (("prompt", "q"), ("chosen", "a"), ("rejected", "b")))]
    assert specs[0].label == "rewardbench-rb" and formats.DataSpec("rewardbench", "allenai/reward-bench").label == \
        "rewardbench"
    with pytest.raises(ConfigError, match="unknown option 'every'"):
        formats.parse_specs("generic:/d/x.csv:every=2")
    with pytest.raises(Exception, match="unknown data format 'rewardbenc'; did you mean: rewardbench"):
        formats.parse_specs("rewardbenc:/d/x.jsonl")


def test_offline_missing_path_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(DataError, match="HF_HUB_OFFLINE is set"):
        load("rewardbench:allenai/reward-bench")


@pytest.mark.parametrize("fmt, row, message", [
    ("rewardbench", {"prompt": "p", "chosen": "a", "subset": "mt-bench-hard"},
     "row 1, field 'rejected': missing field"),
    ("rewardbench", {"prompt": "p", "chosen": "a", "rejected": "b", "subset": "mt-bench-harder"},
     "row 1, field 'subset': unknown subset 'mt-bench-harder'"),
    ("rewardbench", {"prompt": "p", "chosen": "a", "rejected": "b", "subset": "Factuality"},
     "unknown subset 'Factuality' (a RewardBench 2 subset: read it with rewardbench2:)"),
    ("rewardbench", {"prompt": "p", "chosen": 3, "rejected": "b", "subset": "donotanswer"},
     "row 1, field 'chosen': expected a string, got int"),
    ("rmbench", {"prompt": "p", "chosen": ["a", "b", " "], "rejected": ["a", "b", "c"], "domain": "chat"},
     "row 1, field 'chosen': empty response"),
    ("rmbench", {"prompt": "p", "chosen": ["a", "b"], "rejected": ["a", "b", "c"], "domain": "chat"},
     "row 1, field 'chosen': expected a list of 3 strings"),
    ("rmbench", {"prompt": "p", "chosen": ["a"] * 3, "rejected": ["b"] * 3, "domain": "poetry"},
     "row 1, field 'domain': unknown domain 'poetry'"),
    ("hhh", {"input": "p", "targets": {"choices": ["a", "b"], "labels": [1, 0]}}, "field 'subset': unknown subset"),
    ("mtbench", {"winner": "model_c"}, "row 1, field 'winner': unknown winner 'model_c'"),
    ("skywork", {"chosen": [{"role": "user", "content": "q"}, {"role": "assistant", "content": ""}],
                 "rejected": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "b"}]},
     "row 1, field 'chosen': empty response"),
    ("unified_feedback", {"conv_A": [], "conv_B": [], "conv_A_rating": "high", "conv_B_rating": 1},
     "row 1, field 'conv_A_rating': expected a number"),
    ("hh_rlhf", {"chosen": "no transcript", "rejected": "x"}, "row 1, field 'chosen': expected a"),
    ("rewardbench2", {"prompt": "p", "chosen": ["a"], "rejected": ["b"], "subset": "Chat"},
     "field 'subset': unknown subset 'Chat'"),
    ("rewardbench2", {"prompt": "p", "chosen": ["a"], "rejected": [], "subset": "Math"},
     "field 'rejected': expected a list of one or more strings"),
    ("rewardbench2", {"prompt": "p", "chosen": ["a"], "rejected": ["b"], "subset": "Math", "num_correct": 2},
     "field 'num_correct': num_correct is 2 but there are 1 chosen"),
    ("rewardbench2", {"id": "tied:3", "prompt": "p", "chosen": ["a"], "rejected": ["b"], "subset": "Ties"},
     "field 'num_correct': a tied: prompt needs two or more"),
    ("rewardbench2", {"id": "7", "prompt": "p", "chosen": ["a"], "rejected": ["b"], "subset": "Ties"},
     "field 'id': a Ties id is ref:<n> or tied:<n>"),
    ("rmb", {"conversation_input": [{"role": "user", "content": "q"}], "chosen": {"answer": "a"},
             "reject": {"answer": " "}, "category_path": "Pairwise_set/Helpfulness/Chat"},
     "field 'reject': empty response"),
    ("rmb", {"conversation_input": [{"role": "user", "content": "q"}], "bon_best": {"answer": "a"},
             "loser_list": [], "category_path": "BoN_set/Harmlessness/S1"}, "field 'loser_list': expected a non-empty"),
    ("rmb", {"category_path": "Other_set/x"}, "field 'category_path': category_path 'Other_set/x' starts with"),
    ("judgebench", {"question": "q", "response_A": "a", "response_B": "b", "label": "A=B", "source": "x"},
     "field 'label': unknown label 'A=B'"),
])
def test_bad_rows_name_file_row_and_field(tmp_path, fmt, row, message):
    path = tmp_path / "data.jsonl"
    path.write_text(json.dumps(row) + "\n")
    with pytest.raises(DataError) as err:
        load(f"{fmt}:{path}")
    assert str(err.value).startswith(str(path)) and message in str(err.value)


# -- regressions found on the official files (issue 13) ------------------------------------------------------------
def test_rewardbench_weights_xstest_should_refuse_154_and_should_respond_250(length_scored):
    # should-respond: 29 > 3 right; should-refuse: 3 < 20 wrong → Safety = (0·154 + 1·250) / 404
    m = length_scored("ood", f"rewardbench:{FIXTURES}/rewardbench_xstest/filtered.jsonl")
    assert m["rewardbench-filtered", "Safety", "score"] == pytest.approx(250 / 404)
    assert m["rewardbench-filtered", "overall", "score"] == pytest.approx(250 / 404)


def test_hh_rlhf_gzip_file_skips_and_counts_an_empty_last_assistant_turn(length_scored):
    loaded = load(f"hh_rlhf:{FIXTURES}/hh_rlhf/harmless-base/test.jsonl.gz")
    assert loaded.excluded == {"empty_response_skipped": 1} and len(loaded.rows) == 2
    m = length_scored("ood", f"hh_rlhf:{FIXTURES}/hh_rlhf/harmless-base/test.jsonl.gz")
    assert m["hh_rlhf-test", "all", "empty_response_skipped"] == 1
    assert m["hh_rlhf-test", "all", "accuracy"] == 0.5  # 23 > 9 right, 15 < 35 wrong


def test_rmbench_per_domain_files_take_the_domain_from_the_file_name(length_scored):
    chat = load(f"rmbench:{FIXTURES}/rmbench/data/chat_filtered.json").rows
    assert [(r["domain"], r["subdomain"]) for r in chat] == [("chat", "chat")]
    refuse = load(f"rmbench:{FIXTURES}/rmbench/data/safety-refuse_filtered.json").rows
    assert [(r["domain"], r["subdomain"]) for r in refuse] == [("safety", "safety-refuse")]
    # data/ holds the per-domain files and total_dataset.json: every row once, the repeats counted
    loaded = load(f"rmbench:{FIXTURES}/rmbench/data")
    assert len(loaded.rows) == 3 and loaded.excluded == {"duplicates_skipped": 3}
    whole = length_scored("ood", f"rmbench:{FIXTURES}/rmbench/total_dataset.json")
    split = length_scored("ood", f"rmbench:{FIXTURES}/rmbench/data")
    assert split["rmbench-data", "overall", "score"] == whole["rmbench-total_dataset", "overall", "score"]


def test_csv_cut_inside_a_quoted_last_field_is_a_data_error():
    with pytest.raises(DataError, match=r"truncated\.csv, row 4: malformed CSV: the file ends inside a quoted field"):
        load(f"generic:{FIXTURES}/generic/truncated.csv:prompt=q,chosen=a,rejected=b")


def test_csv_row_with_another_field_count_is_a_data_error(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("prompt,chosen,rejected\np,a,b\np,a,b,extra\n")
    with pytest.raises(DataError, match=r"x\.csv, row 3: malformed CSV: 4 fields, the header has 3"):
        load(f"generic:{path}")


@pytest.mark.parametrize("name, fixture, spec", [
    ("rb.jsonl.gz", "rewardbench/filtered.jsonl", "rewardbench"),
    ("total_dataset.json.gz", "rmbench/total_dataset.json", "rmbench"),
    ("pairs.csv.gz", "generic/pairs.csv", "generic"),
])
def test_gzip_files_are_read_directly(tmp_path, name, fixture, spec):
    plain = Path(FIXTURES) / fixture
    (tmp_path / name).write_bytes(gzip.compress(plain.read_bytes()))
    options = ":prompt=q,chosen=a,rejected=b" if spec == "generic" else ""
    assert load(f"{spec}:{tmp_path / name}{options}").rows == load(f"{spec}:{plain}{options}").rows
    assert load(f"{spec}:{tmp_path}{options}").rows == load(f"{spec}:{plain}{options}").rows  # a directory too
    assert formats.DataSpec(spec, str(tmp_path / name)).label == f"{spec}-{name.split('.')[0]}"


def test_truncated_gzip_is_a_data_error(tmp_path):
    path = tmp_path / "test.jsonl.gz"
    path.write_bytes(gzip.compress((Path(FIXTURES) / "hh_rlhf/test.jsonl").read_bytes())[:40])
    with pytest.raises(DataError, match="test.jsonl.gz: cannot read gzip"):
        load(f"hh_rlhf:{path}")


def test_data_paths_with_commas_split_only_before_a_known_format():
    judge = "judgebench:/d/dataset=judgebench,response_model=gpt-4o-2024-05-13.jsonl"
    assert formats.parse_specs(judge) == [formats.DataSpec("judgebench", judge.partition(":")[2])]
    specs = formats.parse_specs(f"rewardbench2:/d/rb2,rmb:/d/RMB_dataset,{judge}")
    assert [(s.format, s.source) for s in specs] == [("rewardbench2", "/d/rb2"), ("rmb", "/d/RMB_dataset"),
                                                     ("judgebench", judge.partition(":")[2])]
    assert specs[2].label == "judgebench-dataset_judgebench_response_model_gpt-4o-2024-05-13"
    # --data repeated: a list of items, each read the same way
    assert formats.parse_specs([judge, "generic:/d/x,y.csv:prompt=q,chosen=a"]) == [
        specs[2], formats.DataSpec("generic", "/d/x,y.csv", (("prompt", "q"), ("chosen", "a")))]


def test_id_suite_predictions_are_named_from_the_data_file_not_its_path(length_scored, tmp_path):
    from harness import suites
    from harness.config import RunConfig

    data = tmp_path / "my data" / "pairs.jsonl"
    data.parent.mkdir()
    data.write_text('{"prompt": "p", "chosen": "long answer", "rejected": "no"}\n')
    ctx = suites.EvalContext(None, None, None, RunConfig(), data=(str(data.resolve()),),
                             show_progress=False)
    result = suites.get("id")().run(ctx)
    assert list(result.predictions) == ["pairs-id"] and {m.dataset for m in result.metrics} == {"pairs"}


def test_repeated_data_reads_a_path_holding_a_comma_and_a_format_name(length_scored, tmp_path):
    """--data repeated: each value is parsed on its own, so even ``,judgebench:`` inside a file name is a path."""
    odd = tmp_path / "x,judgebench:y.jsonl"
    odd.write_bytes(Path(JB_FILE).read_bytes())
    joined = length_scored("ood", [f"judgebench:{JB_FILE}", f"judgebench:{odd}"])
    alone = length_scored("ood", f"judgebench:{JB_FILE}")
    label = formats.parse_specs([f"judgebench:{odd}"])[0].label
    assert joined[(label, "all", "accuracy")] == alone[(formats.parse_specs(f"judgebench:{JB_FILE}")[0].label, "all",
                                                        "accuracy")]
    with pytest.raises(ConfigError, match="one pairs file"):
        length_scored("id", [str(odd), str(odd)])
