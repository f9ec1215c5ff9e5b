"""What the tests share: payments, gateways and forms, each in one module."""
