"""What the separately deployed services share as code: input rules at their HTTP edges.

Standard library only, so every service can depend on it without pulling in another's stack.
"""
