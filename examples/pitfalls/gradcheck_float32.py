# Title: gradcheck on float32 inputs: it warns, then fails with a Jacobian mismatch
# Float32 is too coarse for finite differences with eps=1e-6; see gradcheck_float64.py.
import torch


class QuadraticFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, a, b, c):
        ctx.save_for_backward(x, a, b, c)
        return a * x ** 2 + b * x + c

    @staticmethod
    def backward(ctx, grad_output):
        x, a, b, c = ctx.saved_tensors
        return grad_output * (2 * a * x + b), grad_output * x ** 2, grad_output * x, grad_output


x = torch.tensor(3.0, requires_grad=True)  # float32
a = torch.tensor(2.0, requires_grad=True)
b = torch.tensor(1.0, requires_grad=True)
c = torch.tensor(4.0, requires_grad=True)
torch.autograd.gradcheck(QuadraticFunction.apply, (x, a, b, c), eps=1e-6)  # GradcheckError
