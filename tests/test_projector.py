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
