import pytest
import torch

from distilvit.config import ProjectorConfig
from distilvit.model.projector import Projector, check_grid, pixel_shuffle


def test_pixel_shuffle_groups_neighbouring_patches():
    # 4x4 grid, one channel holding the patch index: k=2 gives 4 tokens of 4 neighbours each.
    features = torch.arange(16.0).reshape(1, 16, 1)
    out = pixel_shuffle(features, 2)
    assert out.shape == (1, 4, 4)
    assert out[0, 0].tolist() == [0, 1, 4, 5]
    assert out[0, 3].tolist() == [10, 11, 14, 15]


def test_base_shapes_196_patches_to_49_tokens():
    projector = Projector(ProjectorConfig(type="mlp", pixel_shuffle_factor=2), 768, 576)
    assert projector(torch.zeros(2, 196, 768)).shape == (2, 49, 576)
    linear = Projector(ProjectorConfig(type="linear", pixel_shuffle_factor=1), 768, 576)
    assert linear(torch.zeros(2, 196, 768)).shape == (2, 196, 576)


def test_factor_must_divide_the_grid():
    with pytest.raises(ValueError, match="27x27"):
        check_grid(729, 2)
    check_grid(729, 3)


def test_standardizer_uses_training_statistics():
    projector = Projector(ProjectorConfig(type="linear", pixel_shuffle_factor=1,
                                          standardize=True), 4, 8)
    with pytest.raises(RuntimeError, match="never fitted"):
        projector(torch.zeros(1, 4, 4))
    features = torch.randn(64, 4, 4) * 0.01 + torch.arange(4.0)[None, :, None] * 10
    projector.standardizer.fit(features)
    standardized = projector.standardizer(features)
    # offsets of 30 against a spread of 0.01: fp32 leaves ~1e-4 of cancellation error
    torch.testing.assert_close(standardized.mean(0), torch.zeros(4, 4), atol=1e-3, rtol=0)
    torch.testing.assert_close(standardized.std(0), torch.ones(4, 4), atol=1e-3, rtol=0)


def test_position_embedding_tells_identical_tokens_apart():
    config = ProjectorConfig(type="mlp", pixel_shuffle_factor=2, position_embedding=True)
    with pytest.raises(ValueError, match="patch count"):
        Projector(config, 8, 16)
    projector = Projector(config, 8, 16, num_patches=36)
    assert projector.position.shape == (9, 16)
    torch.nn.init.normal_(projector.position)
    same = torch.ones(1, 36, 8)  # every patch alike: only the position can differ
    out = projector(same)
    assert out.shape == (1, 9, 16)
    assert not torch.allclose(out[0, 0], out[0, 1])
    out.sum().backward()
    assert projector.position.grad is not None and projector.position.grad.abs().sum() > 0
