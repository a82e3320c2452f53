# Title: One training step: nn.Linear(1, 1), MSE loss, backward, SGD update
import torch
import torch.optim as optim

torch.manual_seed(0)
model = torch.nn.Linear(1, 1)
optimizer = optim.SGD(model.parameters(), lr=0.01)

x = torch.tensor([[1.0], [2.0], [3.0]], requires_grad=True)
y_true = torch.tensor([[2.0], [4.0], [6.0]])

y_pred = model(x)                                         # forward
loss = torch.nn.functional.mse_loss(y_pred, y_true)       # loss
loss.backward()                                           # fills model.weight.grad, model.bias.grad
optimizer.step()                                          # w -= lr * grad
