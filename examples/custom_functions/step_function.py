# Title: A step function as a custom Function: its backward returns zeros, so no gradient flows
import torch
from torch.autograd import Function


class StepFunction(Function):
    """Step function: 1 where x > 0, else 0."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return (x > 0).float()

    @staticmethod
    def backward(ctx, grad_output):
        x, = ctx.saved_tensors
        return grad_output * 0  # the derivative is 0 almost everywhere


x = torch.tensor([1.0, -1.0, 2.0], requires_grad=True)
y = StepFunction.apply(x)
print(y)  # tensor([1., 0., 1.], grad_fn=<StepFunctionBackward>)
y.sum().backward()
print(x.grad)  # tensor([0., 0., 0.])
