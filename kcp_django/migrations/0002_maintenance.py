import kcp_django.fields
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('kcp_django', '0001_initial'),
    ]

    operations = [
        migrations.AddField(
            model_name='accountverification',
            name='claimed_by',
            field=models.CharField(blank=True, default='', editable=False, max_length=80, verbose_name='claimed by (kcp_reconcile)'),
        ),
        migrations.AddField(
            model_name='accountverification',
            name='claimed_until',
            field=models.DateTimeField(blank=True, editable=False, null=True, verbose_name='claimed until'),
        ),
        migrations.AddField(
            model_name='accountverification',
            name='needs_review',
            field=models.BooleanField(default=False, verbose_name='needs staff review'),
        ),
        migrations.AddField(
            model_name='accountverification',
            name='purged_at',
            field=models.DateTimeField(blank=True, editable=False, null=True, verbose_name='personal data purged at'),
        ),
        migrations.AddField(
            model_name='accountverification',
            name='reconcile_attempts',
            field=models.PositiveSmallIntegerField(default=0, editable=False, verbose_name='reconcile attempts'),
        ),
        migrations.AlterField(
            model_name='accountverification',
            name='account_no',
            field=kcp_django.fields.EncryptedTextField(blind_index_field='account_index', null=True, verbose_name='account number'),
        ),
        migrations.AddIndex(
            model_name='accountverification',
            index=models.Index(fields=['state', 'updated_at'], name='kcp_verif_stuck_idx'),
        ),
    ]
