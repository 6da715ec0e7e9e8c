"""Who may call the service and where a secret may go: the browser guard, session keys and
their scopes, the binding of secrets to their destination, and the home folder's checks."""
