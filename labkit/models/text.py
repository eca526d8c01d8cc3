"""The course's text side: the offline Shapes-world tokenizer and a tiny T5 encoder.

Taught in ``04_train_tiny_video_model`` (and used by the random-weight pipelines of ``05_svd_cogvideox_inference``).

:func:`shapes_tokenizer` is a word-level ``PreTrainedTokenizerFast`` over the Shapes-world vocabulary, built offline
(no hub download), that pads and truncates to :data:`TEXT_LENGTH` tokens like T5's tokenizer in
``CogVideoXPipeline``; :func:`tokenize` turns captions into ids ``(B, TEXT_LENGTH)``. :func:`new_text_encoder` is a
real ``T5EncoderModel`` at tiny size, :data:`TEXT_WIDTH` wide (the transformer's ``text_embed_dim``).
"""

from __future__ import annotations

import torch
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
from transformers import PreTrainedTokenizerFast, T5Config, T5EncoderModel

from labkit.data.shapes import vocabulary

__all__ = ["TEXT_LENGTH", "TEXT_WIDTH", "shapes_tokenizer", "new_text_encoder", "tokenize"]


TEXT_LENGTH = 16  # tokens per prompt: Shapes-world captions are at most ~12 words
TEXT_WIDTH = 64  # the tiny T5's d_model: the transformer's text_embed_dim


def shapes_tokenizer(max_length: int = TEXT_LENGTH):
    """A word-level tokenizer over the Shapes-world vocabulary (``labkit.data.vocabulary``), built offline.

    Ids: 0 ``<pad>``, 1 ``</s>``, 2 ``<unk>``, then the words in a fixed order; ``model_max_length`` is
    ``max_length``. Lower-cases and splits on whitespace and punctuation, appends ``</s>`` like T5.
    """

    words = sorted({w for group in vocabulary().values() for w in group})
    vocab = {"<pad>": 0, "</s>": 1, "<unk>": 2, **{w: i + 3 for i, w in enumerate(words)}}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>",
                                   model_max_length=max_length)


def new_text_encoder(tokenizer, text_width: int = TEXT_WIDTH, seed: int = 0):
    """A tiny ``T5EncoderModel`` over the tokenizer's vocabulary (heads of 16, gated-GELU like T5 v1.1)."""

    torch.manual_seed(seed)
    return T5EncoderModel(T5Config(
        vocab_size=len(tokenizer), d_model=text_width, d_kv=16, d_ff=2 * text_width, num_layers=2,
        num_heads=text_width // 16, feed_forward_proj="gated-gelu", dropout_rate=0.0, pad_token_id=0,
        eos_token_id=1, decoder_start_token_id=0)).eval()


def tokenize(tokenizer, captions: list[str]) -> torch.Tensor:
    """Token ids ``(B, TEXT_LENGTH)`` exactly as ``CogVideoXPipeline._get_t5_prompt_embeds`` makes them."""
    return tokenizer(captions, padding="max_length", max_length=TEXT_LENGTH, truncation=True,
                     add_special_tokens=True, return_tensors="pt").input_ids
