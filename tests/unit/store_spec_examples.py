"""The four blueprint examples of the store spec, exactly as written there (SPEC section 2:
"they validate as written")."""

from __future__ import annotations

STORE_SPEC_EXAMPLES: dict[str, str] = {
    "basic_memory_store": """\
system:
  name: "memory_storage_system"
  components:
    - name: "task_api"
      type: "FastAPIEndpoint"
      config:
        port: 8000
    - name: "task_store"
      type: "Store"
      config:
        storage_type: "memory"

  bindings:
    - from_component: "task_api"
      to_component: "task_store"
      stream_name: "input"
""",
    "database_store": """\
system:
  name: "database_storage_system"
  components:
    - name: "api_server"
      type: "FastAPIEndpoint"
      config:
        port: 8000
    - name: "persistent_store"
      type: "Store"
      config:
        storage_type: "database"
        database_type: "postgresql"
        database_url: "postgresql://postgres:password@localhost:5432/tasks"
        table_name: "application_data"

  bindings:
    - from_component: "api_server"
      to_component: "persistent_store"
      stream_name: "input"
""",
    "enhanced_production_store": """\
system:
  name: "production_storage_system"
  components:
    - name: "production_api"
      type: "FastAPIEndpoint"
      config:
        port: 80
    - name: "production_store"
      type: "V5EnhancedStore"
      config:
        database:
          type: "postgresql"
          connection_string: "postgresql://app_user:secure_pass@db-cluster:5432/production_db"
          connection_pool:
            min_size: 10
            max_size: 50
            timeout: 30
          schema:
            tables: ["tasks", "users", "audit_log"]
            migrations:
              - version: "001"
                description: "Initial application schema"
                sql: |
                  CREATE TABLE tasks (
                    id SERIAL PRIMARY KEY,
                    title VARCHAR(255) NOT NULL,
                    completed BOOLEAN DEFAULT FALSE,
                    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP
                  );
              - version: "002"
                description: "Add user management"
                sql: |
                  CREATE TABLE users (
                    id SERIAL PRIMARY KEY,
                    email VARCHAR(255) UNIQUE NOT NULL,
                    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP
                  );
    - name: "metrics_endpoint"
      type: "MetricsEndpoint"
      config:
        port: 9090

  bindings:
    - from_component: "production_api"
      to_component: "production_store"
      stream_name: "input"
""",
    "multi_store_system": """\
system:
  name: "multi_store_system"
  components:
    - name: "user_api"
      type: "FastAPIEndpoint"
      config:
        port: 8001
    - name: "order_api"
      type: "FastAPIEndpoint"
      config:
        port: 8002
    - name: "user_store"
      type: "Store"
      config:
        storage_type: "database"
        database_type: "postgresql"
        database_url: "postgresql://user:pass@db:5432/users"
        table_name: "user_data"
    - name: "order_store"
      type: "V5EnhancedStore"
      config:
        database:
          type: "postgresql"
          connection_string: "postgresql://user:pass@db:5432/orders"
          schema:
            tables: ["orders", "order_items"]
    - name: "cache_store"
      type: "Store"
      config:
        storage_type: "memory"

  bindings:
    - from_component: "user_api"
      to_component: "user_store"
      stream_name: "input"
    - from_component: "order_api"
      to_component: "order_store"
      stream_name: "input"
    - from_component: "user_api"
      to_component: "cache_store"
      stream_name: "cache"
""",
}
