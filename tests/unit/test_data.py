import json
from collections import Counter
from pathlib import Path

import pytest

from harness.data import flip_labels
from harness.data.encode import Encoder, LengthGroupedBatches, encode_pairs, split_global_batch
from harness.data.io import read_pairs
from harness.errors import DataError


def _write(path, lines):
    path.write_bytes(b"\n".join(line if isinstance(line, bytes) else line.encode() for line in lines) + b"\n")
    return path


@pytest.mark.parametrize("line, message", [
    ('{"prompt": "p", "chosen": "a"', "row 2: malformed JSON"),
    ('{"prompt": "p", "chosen": "a"}', "row 2, field 'rejected': missing field"),
    ('{"prompt": "p", "chosen": "  ", "rejected": "b"}', "row 2, field 'chosen': empty text"),
    ('{"prompt": 3, "chosen": "a", "rejected": "b"}', "row 2, field 'prompt': expected a non-empty string"),
    ('{"prompt": "p", "chosen": "a", "rejected": "b", "margin": "x"}', "row 2, field 'margin'"),
    ('[1, 2]', "row 2: expected a JSON object"),
    (b'{"prompt": "\xff", "chosen": "a", "rejected": "b"}', "row 2: invalid UTF-8"),
])
def test_bad_rows_name_file_row_and_field(tmp_path, line, message):
    path = _write(tmp_path / "pairs.jsonl", ['{"prompt": "p", "chosen": "a", "rejected": "b"}', line])
    with pytest.raises(DataError) as err:
        read_pairs(path)
    assert str(path) in str(err.value) and message in str(err.value)


def test_chat_message_lists_are_accepted(tmp_path):
    row = {"prompt": [{"role": "user", "content": "hi"}], "chosen": "a", "rejected": "b", "margin": 1.5}
    assert read_pairs(_write(tmp_path / "p.jsonl", [json.dumps(row)])) == [row]


def test_flip_labels_is_seeded_and_exact():
    rows = [{"prompt": str(i), "chosen": "c", "rejected": "r"} for i in range(100)]
    flipped_rows, flipped = flip_labels(rows, 0.2, seed=3)
    assert len(flipped) == 20 and flipped == flip_labels(rows, 0.2, seed=3)[1]
    assert all((r["chosen"] == "r") == (i in flipped) for i, r in enumerate(flipped_rows))
    with pytest.raises(DataError):
        flip_labels(rows, 1.5, 0)


class _Tokenizer:
    """A character tokenizer without chat template, BERT-like special tokens."""
    chat_template = None
    cls_token_id, bos_token_id, sep_token_id, eos_token_id = 1, None, 2, None

    def __call__(self, texts, add_special_tokens=False):
        return {"input_ids": [[ord(c) for c in t] for t in texts]}


def test_truncation_keeps_prompt_head_and_response_tail():
    enc = Encoder(_Tokenizer(), max_length=12)  # budget 12 − [CLS] − 2 × [SEP] = 9
    (ids, start), = enc.encode(["abcdefgh"], ["0123456789"])
    assert len(ids) == 12 and ids[0] == 1
    prompt, response = ids[1:start - 1], ids[start:-1]
    assert "".join(map(chr, prompt)) == "abcd" and "".join(map(chr, response)) == "56789"
    (ids, start), = enc.encode(["ab"], ["0123456789"])  # a short prompt is kept whole
    assert "".join(map(chr, ids[1:start - 1])) == "ab" and "".join(map(chr, ids[start:-1])) == "3456789"


def test_pairs_identical_after_truncation_are_dropped_and_the_rejected_side_keeps_its_own_history():
    enc = Encoder(_Tokenizer(), max_length=8)  # budget 5: the response tail is kept
    rows = [{"prompt": "p", "chosen": "xaaa", "rejected": "yaaa"},
            {"prompt": "p", "chosen": "aaaaaaaaxb", "rejected": "aaaaaaaayb"},
            {"prompt": "p", "chosen": "qaaaaaaaa", "rejected": "raaaaaaaa"},  # both truncated to "aaaa"
            {"prompt": "p", "chosen": "same", "rejected": "same", "prompt_rejected": "other"}]
    data = encode_pairs(rows, enc)
    assert data.identical() == [2]  # row 3: the rejected answer follows another conversation
    assert "".join(map(chr, data.rejected[3][0][1:data.rejected[3][1] - 1])) == "ot"
    kept, identical = data.without_identical()
    assert identical == [2] and kept.chosen == [data.chosen[i] for i in (0, 1, 3)]
    assert kept.rejected == [data.rejected[i] for i in (0, 1, 3)]
    assert data.subset([0, 1]).without_identical()[1] == []


def test_batches_cover_every_row_once_and_depend_only_on_seed_and_epoch():
    lengths = [i % 17 for i in range(1003)]
    sampler = LengthGroupedBatches(lengths, 32, seed=1)
    batches = sampler.batches(0)
    assert sorted(i for b in batches for i in b) == list(range(1003))
    assert batches == LengthGroupedBatches(lengths, 32, seed=1).batches(0) != sampler.batches(1)


@pytest.mark.parametrize("world_size, grad_accum", [(1, 1), (2, 1), (1, 2), (2, 2)])
def test_split_global_batch_partitions_across_processes_and_micro_steps(world_size, grad_accum):
    rows = list(range(10))
    parts = [split_global_batch(rows, rank, world_size, grad_accum) for rank in range(world_size)]
    assert all(len(p) == grad_accum for p in parts)
    assert sorted(i for p in parts for m in p for i in m) == rows
    sizes = Counter(len(m) for p in parts for m in p)
    assert max(sizes) - min(sizes) <= 1
    tail = [split_global_batch([7], rank, world_size, grad_accum) for rank in range(world_size)]
    assert all(m == [7] for p in tail for m in p)  # a tiny tail is repeated, never empty
    one_process = split_global_batch(rows, 0, 1, grad_accum)
    for k in range(grad_accum):  # micro-step k over all processes = one process's micro-step k
        assert sorted(i for p in parts for i in p[k]) == one_process[k]


def test_training_data_can_be_a_real_format_spec(monkeypatch):
    from harness.config import resolve
    from harness.data import training_pairs
    from harness.errors import DataError

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    skywork = Path(__file__).resolve().parents[1] / "fixtures" / "skywork" / "train.jsonl"
    cfg = resolve("micro", None, [f"data.train=skywork:{skywork}"], None, "bt")
    train, _, _ = training_pairs(cfg.data, 0)
    assert train and all(r["chosen"] and r["rejected"] for r in train)
    for spec, message in (("skywork:missing.jsonl", "missing.jsonl: no such file$"),
                          ("skywork:owner/missing", "HF_HUB_OFFLINE"), ("nowhere.jsonl", "FORMAT:SOURCE")):
        cfg = resolve("micro", None, [f"data.train={spec}"], None, "bt")
        with pytest.raises(DataError, match=message):
            training_pairs(cfg.data, 0)


def test_token_budget_batches_pack_shorter_sequences_into_the_first_batchs_budget():
    from harness.scoring import token_budget_batches

    # padded to multiples of 8: 20, 17 → 24; 16, 9 → 16; 3, 2, 1 → 8. Budget: 2 sequences × 24 = 48 tokens
    lengths = [3, 20, 9, 17, 16, 1, 2]
    assert token_budget_batches(lengths, 2) == [[1, 3], [4, 2, 0], [6, 5]]  # 2×24, 3×16, 2×8 (of 6 allowed)
    assert token_budget_batches([5] * 5, 2) == [[0, 1], [2, 3], [4]]  # equal lengths: the plain batch size
    assert token_budget_batches([], 4) == []
    lengths = [(i * 37) % 200 + 1 for i in range(500)]
    batches = token_budget_batches(lengths, 16)
    assert sorted(i for b in batches for i in b) == list(range(500))
    budget = 16 * (-(-max(lengths) // 8) * 8)
    assert all(len(b) * (-(-max(lengths[i] for i in b) // 8) * 8) <= budget for b in batches)
    assert len(batches) < 0.6 * -(-500 // 16)  # lengths uniform in 1…200: 18 forward passes instead of 32


def test_longest_first_computes_each_distinct_sequence_once_and_returns_input_order():
    import torch

    from harness.scoring import longest_first

    model = torch.nn.Linear(1, 1)
    seen = []

    def compute(ids, mask, response):
        seen.extend(tuple(row[m.bool()].tolist()) for row, m in zip(ids, mask))
        return ((ids * mask).sum(1).float(), response.sum(1).float())

    seqs = [([1, 2, 3], 1), ([4, 5], 0), ([1, 2, 3], 1), ([1, 2, 3], 2), ([4, 5], 0), ([7], 0)]
    sums, responses = longest_first(model, seqs, 0, 2, compute, "test", False)
    assert sums.tolist() == [6, 9, 6, 6, 9, 7] and responses.tolist() == [2, 2, 2, 1, 2, 1]
    assert sorted(seen) == [(1, 2, 3), (1, 2, 3), (4, 5), (7,)]  # ([1, 2, 3], 1) once; ([1, 2, 3], 2) differs
