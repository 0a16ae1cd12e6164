"""Vietnamese wording shared by voice and SMS: compose once, render as text or prompt ids."""
