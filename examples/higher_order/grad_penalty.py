# Title: A gradient penalty: torch.autograd.grad(..., create_graph=True) then backward through it
# The gradient norm is itself differentiable, so it can be added to the loss.
import torch

torch.manual_seed(0)
model = torch.nn.Linear(3, 1)
inputs = torch.randn(4, 3)

loss = model(inputs).pow(2).mean()
grads = torch.autograd.grad(loss, list(model.parameters()), create_graph=True)
grad_norm = torch.sqrt(sum(g.pow(2).sum() for g in grads))
total = loss + 0.1 * grad_norm
total.backward()  # second-order terms flow into model.weight.grad and model.bias.grad
print(grad_norm)
