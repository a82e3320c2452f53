# Title: A custom Function with four inputs: f = a*x**2 + b*x + c and all its partials
# At x=3, a=2, b=1, c=4: df/dx = 2ax + b = 13, df/da = x**2 = 9, df/db = x = 3, df/dc = 1.
import torch


class QuadraticFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, a, b, c):
        ctx.save_for_backward(x, a, b, c)
        return a * x ** 2 + b * x + c

    @staticmethod
    def backward(ctx, grad_output):
        x, a, b, c = ctx.saved_tensors
        grad_x = grad_output * (2 * a * x + b)
        grad_a = grad_output * x ** 2
        grad_b = grad_output * x
        grad_c = grad_output * 1
        return grad_x, grad_a, grad_b, grad_c


x = torch.tensor(3.0, requires_grad=True)
a = torch.tensor(2.0, requires_grad=True)
b = torch.tensor(1.0, requires_grad=True)
c = torch.tensor(4.0, requires_grad=True)

y = QuadraticFunction.apply(x, a, b, c)
y.backward()
print(x.grad, a.grad, b.grad, c.grad)  # tensor(13.) tensor(9.) tensor(3.) tensor(1.)
