"""Acoustic decoding: Vocos loaded through the real pretrained-loading path from a local folder."""

import pytest
import torch

from whisperspeech.core import WhisperSpeechError
from whisperspeech.vocoder import EncodecDecoder, Vocoder, build_vocos, clean_codes

CONFIG = """feature_extractor:
  class_path: vocos.feature_extractors.EncodecFeatures
  init_args: {encodec_model: encodec_24khz, bandwidths: [1.5, 3.0, 6.0, 12.0], train_codebooks: false}
backbone:
  class_path: vocos.models.VocosBackbone
  init_args: {input_channels: 128, dim: 384, intermediate_dim: 1152, num_layers: 8, adanorm_num_embeddings: 4}
head:
  class_path: vocos.heads.ISTFTHead
  init_args: {dim: 384, n_fft: 1280, hop_length: 320, padding: same}
"""


def test_vocos_loads_a_published_layout_folder(tmp_path):
    "The files charactr/vocos-encodec-24khz holds: config.yaml + pytorch_model.bin without EnCodec's own weights."
    model = build_vocos().eval()
    state = {k: v for k, v in model.state_dict().items() if not k.startswith("feature_extractor.encodec.")}
    (tmp_path / "config.yaml").write_text(CONFIG)
    torch.save(state, tmp_path / "pytorch_model.bin")
    vocoder = Vocoder(tmp_path)
    assert not vocoder.random
    codes = torch.randint(0, 1024, (4, 40))
    with torch.no_grad():
        expected = model.decode(model.codes_to_features(codes[:, None]), bandwidth_id=torch.tensor([1]))
    assert torch.allclose(vocoder.decode(codes), expected, atol=1e-6)
    with pytest.raises(WhisperSpeechError, match="lacks config.yaml"):
        (tmp_path / "config.yaml").unlink()
        Vocoder(tmp_path)


def test_bandwidths_and_special_codes():
    vocoder = Vocoder(random_weights_ok=True)
    for q in (2, 4, 8):
        assert vocoder.decode(torch.randint(0, 1024, (q, 10))).shape == (1, 3200)
    with pytest.raises(WhisperSpeechError, match="2, 4, 8 or 16"):
        vocoder.decode(torch.randint(0, 1024, (3, 10)))
    codes = torch.randint(0, 1024, (4, 10))
    codes[1, 3] = 1025  # a stray start code inside: replaced
    codes[:, 8:] = 1024  # end codes at the end: trimmed
    cleaned = clean_codes(codes)
    assert cleaned.shape == (4, 8) and cleaned.max() < 1024 and cleaned[1, 3] == 0


def test_encodec_decoder_alternative():
    dec = EncodecDecoder(random_weights_ok=True)
    assert dec.decode(torch.randint(0, 1024, (4, 75))).shape == (1, 24000)
