# Title: A custom ReLU as torch.autograd.Function: the gradient is 0 where the input was < 0
import torch


class CustomReLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, input):
        ctx.save_for_backward(input)  # keep the input for backward
        return input.clamp(min=0)

    @staticmethod
    def backward(ctx, grad_output):
        input, = ctx.saved_tensors
        grad_input = grad_output.clone()
        grad_input[input < 0] = 0  # derivative of ReLU
        return grad_input


x = torch.tensor([-1.0, 2.0, 0.5], requires_grad=True)
y = CustomReLU.apply(x)
y.backward(torch.tensor([1.0, 1.0, 1.0]))
print(x.grad)  # tensor([0., 1., 1.])
