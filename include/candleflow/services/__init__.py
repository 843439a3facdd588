"""The command side: services that write to the warehouse. No Airflow imports here."""
