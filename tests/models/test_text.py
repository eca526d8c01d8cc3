"""labkit.models.text: the Shapes-world word-level tokenizer."""

from labkit.models import text


def test_tokenizer_pads_truncates_and_knows_the_vocabulary():
    tok = text.shapes_tokenizer(max_length=8)
    ids = tok("a red circle moving left", padding="max_length", max_length=8, truncation=True)["input_ids"]
    assert len(ids) == 8 and ids[5] == tok.eos_token_id and ids[6:] == [tok.pad_token_id] * 2
    assert tok.unk_token_id not in ids[:5]
    assert tok("a zebra")["input_ids"][1] == tok.unk_token_id
