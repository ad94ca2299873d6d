"""Numbers pinned before classification moved onto the task seam (dltool/tasks/): the same configs on seed 0 must
give the same metrics.json numbers, to the last digit of the error and within float noise of the loss (2 CPU threads,
PyTorch 2.13). If a deliberate change moves them, re-measure and say why in the commit."""

from __future__ import annotations

import pytest

from dltool.config import compose
from dltool.train import train

PINNED = {
    # the default config for 3 epochs. Its 60 epochs were pinned before the seam (best epoch 38, test error 0.384)
    # and held on the machines that measured them, but on another CPU (an AMD EPYC with AVX-512's bf16 instructions,
    # which those lacked) the best epoch is 47: 60 epochs amplify the last bits that another CPU's kernels round
    # otherwise. The 3-epoch pins measured on the first machines hold on both; these figures are the second's.
    'default': (['trainer.max_epochs=3'], 3, {
        'train': (0.39166666666666666, 1.10570751953125),
        'train_dev': (0.486, 1.3060374755859374),
        'dev': (0.524, 1.37889501953125),
        'test': (0.5186666666666667, 1.3607490234375),
    }),
    'paper_mlp': (['experiment=paper_mlp', 'trainer.max_epochs=3'], 3, {
        'train': (0.4077142857142857, 1.1162863420758928),
        'dev': (0.514, 1.2566046142578124),
        'test': (0.497, 1.288378662109375),
    }),
    'paper_cnn': (['experiment=paper_cnn', 'trainer.max_epochs=3'], 3, {
        'train': (0.36342857142857143, 0.9251209542410714),
        'dev': (0.432, 1.035458740234375),
        'test': (0.407, 0.9939489135742188),
    }),
    'paper_gru': (['experiment=paper_gru', 'trainer.max_epochs=2'], 2, {
        'train': (0.6005714285714285, 1.4951176060267857),
        'dev': (0.62, 1.533135986328125),
        'test': (0.642, 1.565015625),
    }),
    'paper_logistic': (['experiment=paper_logistic', 'trainer.max_epochs=3'], 3, {
        'train': (0.6788571428571428, 1.6915082310267857),
        'dev': (0.686, 1.7150576171875),
        'test': (0.719, 1.7791759033203125),
    }),
    'digits_cnn': (['data=digits', 'model=cnn', 'trainer.max_epochs=2'], 2, {
        'train': (0.051996285979572884, 0.21968714750355445),
        'train_dev': (0.1, 0.4041290707058377),
        'dev': (0.07777777777777778, 0.3601512485080295),
        'test': (0.08888888888888889, 0.31886622111002605),
    }),
}


# the recurrent net's run (20 s on 2 cores) and the 1-D CNN's (6 s) are the longest: under -m slow, with the default
# suite near its budget; the other pins (the default MLP, the paper's MLP, logistic regression and a 2-D CNN) hold
# the loop's numbers in the default suite
SLOW = ("paper_gru", "paper_cnn")


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in PINNED])
def test_the_same_config_gives_the_numbers_pinned_before_the_task_seam(name, tmp_path):
    import torch

    overrides, best_epoch, splits = PINNED[name]
    with_threads = [*overrides, "trainer.threads=2"] if torch.get_num_threads() != 2 else overrides
    result = train(compose(with_threads), runs_dir=tmp_path, progress=False)
    assert result["best_epoch"] == best_epoch
    measured = {k: (v["error"], v["loss"]) for k, v in result["splits"].items() if v}
    assert set(measured) == set(splits)
    for split, (error, loss) in splits.items():
        assert measured[split][0] == pytest.approx(error, abs=1e-12), split
        assert measured[split][1] == pytest.approx(loss, rel=1e-5), split
