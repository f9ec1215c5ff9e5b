from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('kcp_django', '0002_admin'),
        ('kcp_django', '0002_api'),
        ('kcp_django', '0002_maintenance'),
    ]

    operations = []
