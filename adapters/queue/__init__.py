"""Work queues behind the WorkQueue port."""
