"""Pre-fusion arithmetic against formulas written from upstream models/affectgpt.py
(`encode_multi_attention`, `encode_multi_qformer`) and BLIP-2's Q-Former BertLayer, using
plain tensor operations on the module's weights, not the module's own code path."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from affectgpt.model.fusion import AttentionFusion, QFormerFusion


def _linear(x, layer):
    return x @ layer.weight.T + layer.bias


def test_attention_fusion_is_upstream_formula_without_softmax():
    torch.manual_seed(0)
    fusion = AttentionFusion(audio_dim=6, visual_dim=5, hidden_dim=4, llm_dim=3)
    with torch.no_grad():
        fusion.attention_out.bias.copy_(torch.tensor([2.0, 3.0]))  # weights far from a convex pair
    audio, visual = torch.randn(2, 8, 6), torch.randn(2, 8, 5)
    # upstream: video = multi_video_embs(mean_t(video)); audio = multi_audio_embs(mean_t(audio))
    v = _linear(visual.mean(1), fusion.visual_in)
    a = _linear(audio.mean(1), fusion.audio_in)
    attention = _linear(_linear(torch.cat([v, a], 1), fusion.attention_mlp), fusion.attention_out)  # [b, 2]
    fused = torch.matmul(torch.stack([v, a], dim=2), attention.unsqueeze(2)).squeeze(2)  # [b, maxdim]
    expected = _linear(fused, fusion.to_llm).unsqueeze(1)
    with torch.no_grad():
        got = fusion(audio, visual)
        alpha, _, _ = fusion.mixing_weights(audio, visual)
    assert torch.allclose(got, expected, atol=1e-5)
    assert not torch.allclose(alpha.sum(-1), torch.ones(2), atol=0.1)  # no softmax over the two weights
    soft = AttentionFusion(6, 5, 4, 3, weights="softmax")
    assert torch.allclose(soft.mixing_weights(audio, visual)[0].sum(-1), torch.ones(2))


def _bert_attention(hidden, context, attn, heads):
    def split(x):
        b, n, w = x.shape
        return x.view(b, n, heads, w // heads).permute(0, 2, 1, 3)
    q, k, v = split(_linear(hidden, attn.query)), split(_linear(context, attn.key)), split(_linear(context, attn.value))
    probs = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1]), dim=-1)
    ctx = (probs @ v).permute(0, 2, 1, 3).reshape(hidden.shape)
    out = attn.output
    return F.layer_norm(_linear(ctx, out.dense) + hidden, (hidden.shape[-1],), out.LayerNorm.weight,
                        out.LayerNorm.bias, eps=1e-12)


def test_qformer_is_bert_style_over_video_then_audio_with_learned_positions():
    torch.manual_seed(1)
    width, heads = 24, 4
    fusion = QFormerFusion(audio_dim=10, visual_dim=7, hidden_dim=12, llm_dim=5, n_queries=3, n_layers=2,
                           n_heads=heads, width=width).eval()
    assert fusion.positions.num_embeddings == 264 and fusion.query_dropout.p == 0.1
    audio, visual = torch.randn(2, 8, 10), torch.randn(2, 8, 7)
    sequence = torch.cat([_linear(visual, fusion.visual_in), _linear(audio, fusion.audio_in)], dim=1)
    sequence = sequence + fusion.positions.weight[:16]
    hidden = F.layer_norm(fusion.queries.expand(2, -1, -1), (width,), fusion.query_norm.weight,
                          fusion.query_norm.bias, eps=1e-12)
    for layer in fusion.layers:
        hidden = _bert_attention(hidden, hidden, layer.attention, heads)
        hidden = _bert_attention(hidden, sequence, layer.crossattention, heads)
        inner = F.gelu(_linear(hidden, layer.intermediate_query[0]))
        out = layer.output_query
        hidden = F.layer_norm(_linear(inner, out.dense) + hidden, (width,), out.LayerNorm.weight, out.LayerNorm.bias,
                              eps=1e-12)
    expected = _linear(hidden, fusion.to_llm)
    with torch.no_grad():
        assert torch.allclose(fusion(audio, visual), expected, atol=1e-5)
    default = QFormerFusion(1024, 768, 1024, 64, n_queries=2)
    assert default.queries.shape == (1, 2, 768) and default.layers[0].attention.heads == 12
    assert default.layers[0].crossattention.key.in_features == 1024 and len(default.layers) == 2


def _upstream_bert_init_weights(module):
    """Upstream my_affectgpt/models/Qformer.py `BertPreTrainedModel._init_weights`, verbatim:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            module.weight.data.normal_(mean=0.0, std=self.config.initializer_range)
        elif isinstance(module, nn.LayerNorm):
            module.bias.data.zero_(); module.weight.data.fill_(1.0)
        if isinstance(module, nn.Linear) and module.bias is not None:
            module.bias.data.zero_()
    with initializer_range 0.02 (bert-base-uncased's config; `BertLMHeadModel(config=...)` loads no
    weights, so this init is what upstream's Q-Former starts from)."""
    if isinstance(module, (torch.nn.Linear, torch.nn.Embedding)):
        module.weight.data.normal_(mean=0.0, std=0.02)
    elif isinstance(module, torch.nn.LayerNorm):
        module.bias.data.zero_()
        module.weight.data.fill_(1.0)
    if isinstance(module, torch.nn.Linear) and module.bias is not None:
        module.bias.data.zero_()


def _bert_part(fusion):
    return [("query_norm", fusion.query_norm)] + [(f"layers.{n}", m) for n, m in fusion.layers.named_modules()]


def test_qformer_starts_from_berts_random_init_as_upstream():
    torch.manual_seed(3)
    ours = QFormerFusion(1024, 768, 1024, 8, n_queries=1)            # default: qformer_init bert
    reference = QFormerFusion(1024, 768, 1024, 8, n_queries=1, init="torch")
    reference.layers.apply(_upstream_bert_init_weights)
    reference.query_norm.apply(_upstream_bert_init_weights)
    for (name, mine), (_, theirs) in zip(_bert_part(ours), _bert_part(reference)):
        if isinstance(mine, torch.nn.Linear):
            assert torch.count_nonzero(mine.bias) == 0 == torch.count_nonzero(theirs.bias), name
            # same distribution: normal(0, 0.02) for every fan-in (768 and 3072), tails past a
            # uniform's bound
            assert abs(mine.weight.std().item() - theirs.weight.std().item()) < 1e-3, name
            assert abs(mine.weight.std().item() - 0.02) < 1e-3, name
            assert mine.weight.abs().max() > 3.5 * 0.02, name
        elif isinstance(mine, torch.nn.LayerNorm):
            assert torch.equal(mine.weight, theirs.weight) and torch.equal(mine.bias, theirs.bias), name
    torch_default = QFormerFusion(1024, 768, 1024, 8, n_queries=1, init="torch")
    dense = torch_default.layers[0].output_query.dense             # fan-in 3072: PyTorch std 1/sqrt(3 * 3072)
    assert torch.count_nonzero(dense.bias) > 0 and abs(dense.weight.std().item() - 0.02) > 5e-3
