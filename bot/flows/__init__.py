"""Steps more than one router takes: they answer a message and move the FSM, but register
nothing. Handlers import them (never each other); they import services, views and states."""
