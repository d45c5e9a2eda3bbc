"""Generation against upstream's `Chat` (conversation/conversation_video.py at 77d0200),
re-implemented here from its lines: the stop tokens, the eos list, the answer clean-up, the
800-token left cut, pad = eos; and the batched decoding shown equal to one clip at a time."""

from __future__ import annotations

import torch
from model_testkit import random_features

from affectgpt.model.batching import Batcher
from affectgpt.model.generation import generate_texts
from affectgpt.model.prompt import PLACEHOLDERS, PromptEncoder
from affectgpt.model.stopping import UpstreamStops, decode_responses, eos_ids, upstream_response, upstream_stop_sequences
from affectgpt.model.store import LoadedModel


def _upstream_step4(response: str, bos: str, eos: str) -> str:
    """conversation_video.py `answer_sample`, step 4, as written there."""
    if response.find(bos) != -1:
        response = response.split(bos)[1]
    if response.find(eos) != -1:
        response = response.split(eos)[0]
    response = response.rsplit('###', 1)[0]  # split from stop tokens '###'
    response = response.split('Assistant:')[-1].strip()
    return response


def test_answer_is_cut_as_upstream_cuts_it():
    bos, eos = "<|im_start|>", "<|im_end|>"
    cases = ["The character's emotional state is happy.###",
             "happy ### then ###Human: more ###Assistant: sad###",     # last ###, then after Assistant:
             "<|im_start|>kept<|im_start|>dropped", "a<|im_end|>b###", "no stop at all ",
             "Assistant: yes", " two ### seps ###", "<|endoftext|> stays###"]
    for text in cases:
        assert upstream_response(text, bos, eos) == _upstream_step4(text, bos, eos), text
    # the old first-`###` cut disagrees with upstream on the second case
    assert upstream_response(cases[1], bos, eos) == "sad" != cases[1].split("###", 1)[0].strip()


def _upstream_stop_words(tokenizer) -> list[list[int]]:
    """Chat.__init__: eos, '###', ('##', '#'), ('#', '##') with '#' ids from 'a##' / 'a#'."""
    id_tre_jin = tokenizer('###', add_special_tokens=False)['input_ids'][0]
    id_two_jin = tokenizer('a##', add_special_tokens=False)['input_ids'][1]
    id_one_jin = tokenizer('a#', add_special_tokens=False)['input_ids'][1]
    return [[tokenizer.eos_token_id], [id_tre_jin], [id_two_jin, id_one_jin], [id_one_jin, id_two_jin]]


def _upstream_stops_row0(stops, input_ids) -> bool:
    """StoppingCriteriaSub.__call__: any stop equal to the tail of row 0."""
    for stop in stops:
        stop = torch.tensor(stop)
        if torch.all((stop == input_ids[0][-len(stop):])).item():
            return True
    return False


def test_stop_tokens_are_upstreams_and_each_row_stops_as_it_would_alone(tiny_tokenizer):
    stops = upstream_stop_sequences(tiny_tokenizer)
    assert stops == _upstream_stop_words(tiny_tokenizer)
    criteria = UpstreamStops(stops)
    hashes = tiny_tokenizer("a##", add_special_tokens=False)["input_ids"][1]
    one = tiny_tokenizer("a#", add_special_tokens=False)["input_ids"][1]
    batch = torch.tensor([[5, 6, stops[1][0]], [5, hashes, one], [5, 6, 7], [7, one, hashes], [6, 7, stops[0][0]]])
    got = criteria(batch, torch.zeros(5, 1))
    assert got.tolist() == [_upstream_stops_row0(stops, row[None]) for row in batch] == [True, True, False, True, True]


def test_eos_list_is_the_base_generation_configs_plus_the_tokenizers(tiny_model, tiny_tokenizer, tiny_config):
    """Upstream passes no eos_token_id, so generate() stops on every eos of the base model's
    generation config (Qwen2.5-Instruct: <|im_end|>, <|endoftext|>); its stop list adds the
    tokenizer's eos."""
    config = tiny_model.llm.generation_config
    saved = config.eos_token_id
    loaded = LoadedModel(model=tiny_model, tokenizer=tiny_tokenizer, config=tiny_config, metadata={})
    features = [{key: value[0] for key, value in random_features(1, seed=3).items()}]
    try:
        config.eos_token_id = [7, 9]
        assert eos_ids(tiny_model.llm, tiny_tokenizer) == [7, 9, tiny_tokenizer.eos_token_id]
        config.eos_token_id = None
        free = generate_texts(loaded, ["Of course."], features, "ov", max_new_tokens=8)[0]
        batch = Batcher(tiny_model, tiny_tokenizer, tiny_config.train.max_length).generation_batch(
            ["Of course."], "ov", {key: value[None] for key, value in features[0].items()})
        with torch.no_grad():
            first = int(tiny_model.llm.generate(inputs_embeds=tiny_model.embed(batch.input_ids, batch.features),
                                                attention_mask=batch.attention_mask, max_new_tokens=1,
                                                do_sample=False, pad_token_id=tiny_tokenizer.pad_token_id)[0, -1])
        config.eos_token_id = [first]   # an eos only the generation config knows ends the answer there
        stopped = generate_texts(loaded, ["Of course."], features, "ov", max_new_tokens=8)[0]
        assert stopped == _upstream_step4(tiny_tokenizer.decode([first]), "<|im_start|>", tiny_tokenizer.eos_token)
        assert len(stopped) < len(free)
    finally:
        config.eos_token_id = saved


def test_batched_left_padded_decoding_equals_one_clip_at_a_time(tiny_model, tiny_tokenizer, tiny_config):
    """Upstream decodes one clip at a time; a left-padded batch gives each row the same
    next-token distribution (so greedy answers are identical and sampling draws from the same
    distributions; only the random stream differs)."""
    loaded = LoadedModel(model=tiny_model, tokenizer=tiny_tokenizer, config=tiny_config, metadata={})
    subtitles = ["Of course.", "Last night, I forgot to thank you properly, and I am sorry.", "No."]
    batch = random_features(3, seed=9)
    features = [{key: value[i] for key, value in batch.items()} for i in range(3)]
    batched = generate_texts(loaded, subtitles, features, "ov", batch_size=3, max_new_tokens=10)
    alone = generate_texts(loaded, subtitles, features, "ov", batch_size=1, max_new_tokens=10)
    assert batched == alone
    tiny_tokenizer.padding_side = "left"
    batcher = Batcher(tiny_model, tiny_tokenizer, tiny_config.train.max_length)
    padded = batcher.generation_batch(subtitles, "ov", batch)
    with torch.no_grad():
        logits = tiny_model(padded.input_ids, padded.attention_mask, padded.features).logits[:, -1]
        for row in range(3):
            single = batcher.generation_batch(subtitles[row:row + 1], "ov", {k: v[row:row + 1] for k, v in batch.items()})
            one = tiny_model(single.input_ids, single.attention_mask, single.features).logits[0, -1]
            torch.testing.assert_close(logits[row], one, rtol=1e-4, atol=1e-4)


def test_pad_is_eos_as_upstream_and_the_loss_does_not_see_it(tiny_model, tiny_tokenizer, tiny_config, tmp_path):
    """Upstream: `tokenizer.pad_token = tokenizer.eos_token` and `attention_masks =
    input_ids.ne(pad_token_id)` (base_dataset.py collater), which also masks each sample's final
    eos. Our batch pads with the tokenizer's pad and masks by length: the loss is the same."""
    from affectgpt.model.tokenizer import load_pretrained_tokenizer

    tiny_tokenizer.save_pretrained(tmp_path / "tok")
    assert load_pretrained_tokenizer(str(tmp_path / "tok")).pad_token == tiny_tokenizer.eos_token
    batcher = Batcher(tiny_model, tiny_tokenizer, tiny_config.train.max_length)
    ours = batcher.training_batch(["Of course.", "Don't talk to me about feelings anymore, please."],
                                  ["ov", "description"], ["The character's emotional state is happy.", "Calm."],
                                  random_features(2, seed=4))
    eos = tiny_tokenizer.eos_token_id
    upstream_ids = ours.input_ids.masked_fill(ours.attention_mask == 0, eos)   # padded with eos
    upstream_mask = upstream_ids.ne(eos)                                       # ne(pad) with pad = eos
    assert not torch.equal(upstream_mask.long(), ours.attention_mask)          # the final eos differs
    tiny_model.train(False)
    with torch.no_grad():
        loss = tiny_model(ours.input_ids, ours.attention_mask, ours.features, labels=ours.labels).loss
        theirs = tiny_model(upstream_ids, upstream_mask.long(), ours.features, labels=ours.labels).loss
    torch.testing.assert_close(loss, theirs, rtol=1e-5, atol=1e-6)


def _upstream_left_cut(input_id: list[int], max_new_tokens: int = 1200, max_length: int = 2000) -> list[int]:
    """answer_sample step 1: `current_max_len = len(input_id) + max_new_tokens`,
    `begin_idx = max(0, current_max_len - max_length)`, `input_id = input_id[begin_idx:]`."""
    current_max_len = len(input_id) + max_new_tokens
    begin_idx = max(0, current_max_len - max_length)
    return input_id[begin_idx:]


def test_upstream_cuts_the_head_of_prompts_over_800_tokens_and_we_keep_the_slots(tiny_model, tiny_tokenizer):
    assert len(_upstream_left_cut(list(range(800)))) == 800 and len(_upstream_left_cut(list(range(801)))) == 800
    encoder = PromptEncoder(tiny_tokenizer, tiny_model.modalities, tiny_model.tokens_per_modality, 1024)
    subtitle = " ".join(["Last night, I forgot to thank you properly."] * 70)
    ids, cut = encoder.prompt_ids(subtitle, "ov")
    assert 800 < len(ids) <= 1024 and not cut
    slot_ids = {tiny_tokenizer.convert_tokens_to_ids(PLACEHOLDERS[name]) for name in tiny_model.modalities}
    assert slot_ids <= set(ids)                                       # ours: every modality slot kept
    assert not slot_ids & set(_upstream_left_cut(ids))                # upstream: the head, slots and all, gone


def test_decoded_rows_drop_the_pads_a_finished_row_gets(tiny_tokenizer):
    pad, eos = tiny_tokenizer.pad_token_id, tiny_tokenizer.eos_token_id
    happy = tiny_tokenizer("happy.###", add_special_tokens=False)["input_ids"]
    rows = torch.tensor([happy + [eos, pad, pad], happy + [pad, pad, pad]])
    assert decode_responses(rows, tiny_tokenizer) == ["happy.", "happy."]
