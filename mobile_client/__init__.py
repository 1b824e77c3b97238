"""The Kivy demo client: screens and callbacks over ``EdgeRuntime``, no business logic."""
