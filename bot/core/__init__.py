"""The core the journeys build on; the feature modules of bot/actions import it and never
each other (tests/test_architecture.py checks this).

- clock: the one clock (China's date, whatever the server's time zone)
- shop: the shop API client, order state names, the responses of the shop's refusals
- replies: a response of the domain with its values, as the helpers return it
- refunds: payment method names, refund timing, a refund in a sentence
- courtesy: an upset customer, and what the bot already said this turn
- answers: reading the customer's answers (buttons, typed titles, keywords, free text)
- lookup: finding the order under discussion, and the answer step about one order
- ownership: the journey form and answer step that prove the order is the customer's
- changes: typed pending changes, asking for the yes, what an order's state still allows
- confirmation: the registry through which a journey makes its confirmed change
- suggestions: the FAQ entries suggested when the bot is unsure
- handoff: handing the conversation to a human agent
"""
