"""YOLO-style detector (course 4; Redmon et al. 2016, YOLO9000 2017): a conv backbone shrinks the image to an S x S
grid of cells, and a convolutional head puts out, for each cell and each of A anchor boxes, the numbers
``(t_o, t_x, t_y, t_w, t_h, c_1 .. c_K)`` from which dltool.tasks.detect reads p_c, the box and the class.

The sliding window done convolutionally (the course, after Sermanet et al.'s OverFeat): one forward pass scores
every cell at once, the head's 1x1 convolution being the fully connected layer of each window.

Any registered 2-D conv net (a ``dltool.models.layers.ConvNet``: cnn, lenet, resnet, mobilenet, inception) serves
as the backbone: its ``features`` (the conv blocks, before pooling and head) are this net's body, so a backbone's
downsampling sets the grid (the default cnn's three 2x2 pools: 32 x 32 pixels -> 4 x 4 cells of 8 pixels).
"""

from __future__ import annotations

import torch
from torch import nn

from dltool.errors import UserError, check_number, choices
from dltool.models import create_model, register_model
from dltool.models.base import Net
from dltool.models.init import init_layer
from dltool.models.layers import ConvBN, ConvNet, check_common

BACKBONES = ("cnn", "lenet", "resnet", "mobilenet", "mobilenet_v1", "inception")
# the default backbone's arguments: cnn with 3x3 kernels, wider at each of its three 2x2 pools (32 x 32 -> 4 x 4)
BACKBONE_ARGS = {"channels": [32, 64, 128], "kernel_sizes": 3}


@register_model("yolo", tasks=("detect",))
class YOLO(Net):
    """backbone ``features`` -> [3x3 conv -> BN -> ReLU] -> 1x1 conv with ``num_outputs`` channels a cell.

    Args:
        input_shape: (C, H, W) images.
        num_outputs: numbers a cell, A * (5 + K) (the task says how many: dltool.tasks.detect).
        backbone: the registered conv net whose conv blocks are the body.
        backbone_args: that net's arguments (its own config keys, e.g. channels, kernel_sizes); None for its
            defaults.
        hidden: channels of the 3x3 convolution between body and head; 0 = none.
        init: auto, he, xavier or torch (the head's layers).
    """

    def __init__(self, input_shape, num_outputs, backbone="cnn", backbone_args=BACKBONE_ARGS, hidden=128, init="auto"):
        super().__init__()
        if len(input_shape) != 3:
            raise UserError(f"model yolo needs images (channels, height, width), e.g. data=canvas; "
                            f"this data has inputs of shape {tuple(input_shape)}")
        if backbone not in BACKBONES:
            raise UserError(f"unknown model.backbone '{backbone}'; choose from: {choices(BACKBONES)}")
        backbone_args = {} if backbone_args is None else backbone_args  # null: the backbone's own defaults
        if not isinstance(backbone_args, dict):
            raise UserError(f"model.backbone_args must be a mapping of {backbone}'s arguments, got {backbone_args!r}")
        hidden = check_number(hidden, "model.hidden", low=0, integer=True)
        check_common(1.0, init)
        try:
            net = create_model(backbone, input_shape, 1, **backbone_args)
        except UserError as e:
            if backbone != "cnn" and backbone_args == BACKBONE_ARGS:
                raise UserError(f"{e} (model.backbone_args holds cnn's by default: give {backbone}'s own, or "
                                "model.backbone_args=null for its defaults)") from e
            raise
        if not isinstance(net, ConvNet):
            raise UserError(f"model.backbone={backbone} is not a conv net with conv blocks")
        self.conv_shape = net.conv_shape
        self.features = net.features
        self.resize = net.resize  # a backbone's input resolution (model.backbone_args.resolution), or Identity
        with torch.no_grad():  # the body's output shape: channels and grid
            training = self.features.training
            self.features.eval()  # batch norm neither counts the zeros nor needs two examples
            c, h, w = self.forward_features(torch.zeros(1, *self.conv_shape)).shape[1:]
            self.features.train(training)
        if h != w or h < 1:
            raise UserError(f"model yolo needs a square grid; backbone {backbone} maps {tuple(input_shape)} to "
                            f"{h} x {w} cells")
        self.grid = int(h)
        layers: list[nn.Module] = []
        if hidden:
            layers.append(ConvBN(2, c, hidden, 3, init=init))
            c = hidden
        last = nn.Conv2d(c, num_outputs, kernel_size=1)
        init_layer(last, "xavier" if init == "auto" else init, "linear")
        self.head = nn.Sequential(*layers, last)

    def forward_features(self, x):  # (B, C, H, W) -> (B, C', S, S): the grid's feature maps
        x = x.reshape(x.shape[0], *self.conv_shape)  # shape[0]: an ONNX export keeps it dynamic
        return self.features(self.resize(x))
