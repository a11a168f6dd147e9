"""``kernelwise.backends.conv``: the switch for the one convolution algorithm that trades exactness for speed.

``allow_winograd`` (default False) lets the convolution use Winograd's F(4×4, 3×3) on 3×3, stride-1
layers of at least 16 input and output channels (see :mod:`kernelwise.ops.fastconv`). It does 4× fewer
multiplications, but its transforms cost float32 accuracy: measured on the conv suite's 3×3 layers, its
error relative to the output's scale is 5e-6–1.4e-5, 6–7× PyTorch's in the forward and 16–37× in dL/dX,
enough to flip ReLU gates in a deep network. Like ``torch.backends.cudnn.allow_tf32``, it is a switch a
program sets knowingly; the default paths stay within PyTorch's float32 error (tests/test_conv_accuracy.py).

Example:
    >>> import kernelwise as kw
    >>> from kernelwise.ops.fastconv import choose_method
    >>> shapes = ((8, 64, 56, 56), (64, 64, 3, 3), (1, 1), ((1, 1), (1, 1)), (1, 1), 1)
    >>> choose_method(*shapes)
    'im2col'
    >>> kw.backends.conv.allow_winograd = True
    >>> choose_method(*shapes)
    'winograd'
    >>> kw.backends.conv.allow_winograd = False
"""

allow_winograd: bool = False
