# Title: Per-parameter gradients of an nn.Module, read through named_parameters()
# Without model.zero_grad() the second backward adds onto the first.
import torch

torch.manual_seed(0)


class LinearModel(torch.nn.Module):
    def __init__(self, input_dim, output_dim):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.randn(input_dim, output_dim))
        self.bias = torch.nn.Parameter(torch.randn(output_dim))

    def forward(self, x):
        return x @ self.weight + self.bias


def compute_gradients(model, inputs, targets, loss_fn):
    outputs = model(inputs)
    loss = loss_fn(outputs, targets)
    loss.backward()
    gradients = {}
    for name, param in model.named_parameters():
        if param.grad is not None:
            gradients[name] = param.grad.detach().clone()
    return gradients, loss.item()


model = LinearModel(3, 2)
inputs = torch.randn(4, 3)
targets = torch.randn(4, 2)
loss_fn = torch.nn.MSELoss()

grads1, loss1 = compute_gradients(model, inputs, targets, loss_fn)
grads2, loss2 = compute_gradients(model, inputs, targets, loss_fn)  # no zero_grad in between
print(torch.allclose(grads2["bias"], 2 * grads1["bias"]))  # True: accumulated
model.zero_grad()
grads3, loss3 = compute_gradients(model, inputs, targets, loss_fn)  # fresh again
