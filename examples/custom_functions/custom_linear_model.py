# Title: Custom autograd.Function layers (CustomReLU, CustomLinear) inside an nn.Module
# Their backward nodes are named after the classes: CustomReLUBackward, CustomLinearBackward.
import torch

torch.manual_seed(0)


class CustomReLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, input):
        ctx.save_for_backward(input)
        return input.clamp(min=0)

    @staticmethod
    def backward(ctx, grad_output):
        input, = ctx.saved_tensors
        grad_input = grad_output.clone()
        grad_input[input < 0] = 0
        return grad_input


class CustomLinear(torch.autograd.Function):
    @staticmethod
    def forward(ctx, input, weight, bias):
        ctx.save_for_backward(input, weight)
        output = input @ weight + bias
        return output

    @staticmethod
    def backward(ctx, grad_output):
        input, weight = ctx.saved_tensors
        grad_input = grad_output @ weight.T
        grad_weight = input.T @ grad_output
        grad_bias = grad_output.sum(0)
        return grad_input, grad_weight, grad_bias


class CustomModel(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.randn(10, 20))
        self.bias = torch.nn.Parameter(torch.randn(20))

    def forward(self, x):
        x = CustomReLU.apply(x)
        x = CustomLinear.apply(x, self.weight, self.bias)
        return x


model = CustomModel()
x = torch.randn(4, 10, requires_grad=True)
out = model(x)
print(out.grad_fn)  # <torch.autograd.function.CustomLinearBackward ...>
out.sum().backward()
