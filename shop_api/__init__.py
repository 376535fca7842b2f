"""Demo shop API: the orders, payments, refunds and accounts the support bot looks up."""
