from distilvit.sequence import IGNORE_INDEX, SequenceFormat


def _format(max_length=8, pad=0, eos=0):
    return SequenceFormat(separator_id=1, eos_id=eos, pad_id=pad, max_length=max_length)


def test_labels_cover_caption_and_eos_only():
    fmt = _format()
    batch = fmt.encode_ids([[10, 11, 12], [20]])
    # inputs: separator then the caption; labels: the caption then EOS (shifted by one).
    assert batch.input_ids[0].tolist() == [1, 10, 11, 12]
    assert batch.labels[0].tolist() == [10, 11, 12, 0]
    assert batch.attention_mask[0].tolist() == [1, 1, 1, 1]
    assert batch.input_ids[1].tolist()[:2] == [1, 20]
    assert batch.labels[1].tolist() == [20, 0, IGNORE_INDEX, IGNORE_INDEX]
    assert batch.attention_mask[1].tolist() == [1, 1, 0, 0]


def test_eos_is_learned_when_pad_equals_eos():
    fmt = _format(pad=0, eos=0)
    batch = fmt.encode_ids([[5], [6, 7, 8]])
    labels = batch.labels[0].tolist()
    assert labels.count(0) == 1 and labels[1] == 0  # EOS labelled once, padding ignored
    assert labels[2:] == [IGNORE_INDEX, IGNORE_INDEX]


def test_truncation_keeps_eos():
    fmt = _format(max_length=4, eos=2)
    batch = fmt.encode_ids([list(range(10, 30))])
    assert batch.labels[0].tolist() == [10, 11, 12, 2]
    assert batch.input_ids[0].tolist() == [1, 10, 11, 12]


def test_separator_is_bos_else_eos(tokenizer):
    fmt = SequenceFormat.from_tokenizer(tokenizer, 8)
    assert fmt.separator_id == tokenizer.bos_token_id
    assert fmt.prompt_ids() == [fmt.separator_id]
